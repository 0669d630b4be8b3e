// Command-line flags and config files: one declaration table per command.
#include "rlhf/util/flags.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "rlhf/io/error.h"
#include "rlhf/io/jsonl.h"

namespace rlhf {

static std::string normalise(std::string s) {
  std::replace(s.begin(), s.end(), '_', '-');
  return s;
}

Flags::Flags(std::string command, std::string summary) : command_(std::move(command)), summary_(std::move(summary)) {}

Flags& Flags::add(const std::string& name, const std::string& def, const std::string& help) {
  specs_.push_back({name, def, help, Kind::Value, {}, true});
  values_[name] = def;
  return *this;
}
Flags& Flags::add_bool(const std::string& name, const std::string& help) {
  specs_.push_back({name, "false", help, Kind::Bool, {}, true});
  values_[name] = "false";
  return *this;
}
Flags& Flags::add_choice(const std::string& name, const std::string& def, const std::vector<std::string>& choices,
                         const std::string& help) {
  specs_.push_back({name, def, help, Kind::Choice, choices, true});
  values_[name] = def;
  return *this;
}
Flags& Flags::add_list(const std::string& name, const std::string& help) {
  specs_.push_back({name, "", help, Kind::List, {}, true});
  lists_[name] = {};
  return *this;
}
Flags& Flags::add_positional(const std::string& name, const std::string& help, bool required) {
  specs_.push_back({name, "", help, Kind::Positional, {}, required});
  values_[name] = "";
  return *this;
}
Flags& Flags::allow_config(bool on) {
  allow_config_ = on;
  return *this;
}

const Flags::Spec* Flags::find(const std::string& name) const {
  std::string n = normalise(name);
  for (const auto& s : specs_)
    if (s.kind != Kind::Positional && normalise(s.name) == n) return &s;
  return nullptr;
}

const Flags::Spec& Flags::spec(const std::string& name) const {
  for (const auto& s : specs_)
    if (s.name == name) return s;
  throw Error("internal: flag --" + name + " was not declared for `" + command_ + "`");
}

void Flags::set(const Spec& s, const std::string& value, const std::string& origin) {
  if (s.kind == Kind::Choice && std::find(s.choices.begin(), s.choices.end(), value) == s.choices.end()) {
    std::string allowed;
    for (const auto& c : s.choices) allowed += (allowed.empty() ? "" : "|") + c;
    throw Error(origin + "--" + s.name + ": unknown value \"" + value + "\" (allowed: " + allowed + ")");
  }
  if (s.kind == Kind::Bool && value != "true" && value != "false")
    throw Error(origin + "--" + s.name + ": expected true or false (got \"" + value + "\")");
  if (s.kind == Kind::List)
    lists_[s.name].push_back(value);
  else
    values_[s.name] = value;
  given_[s.name] = true;
}

void Flags::load_config(const std::string& path) {
  io::json j = io::read_json(path);
  if (!j.is_object()) throw Error(path + ": a config file must hold one JSON object of flag: value");
  for (auto it = j.begin(); it != j.end(); ++it) {
    const Spec* s = find(it.key());
    if (!s) {
      std::string known;
      for (const auto& sp : specs_)
        if (sp.kind != Kind::Positional) known += (known.empty() ? "" : ", ") + sp.name;
      throw Error(path + ": unknown key \"" + it.key() + "\" for `rlhf " + command_ + "` (known keys: " + known + ")");
    }
    std::string origin = path + ": key \"" + it.key() + "\": ";
    auto as_text = [&](const io::json& v) -> std::string {
      if (v.is_string()) return v.get<std::string>();
      if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
      if (v.is_number_integer()) return std::to_string(v.get<long long>());
      if (v.is_number()) {
        std::ostringstream ss;
        ss.precision(17);
        ss << v.get<double>();
        return ss.str();
      }
      throw Error(origin + "expected a string, number or boolean");
    };
    if (s->kind == Kind::List) {
      lists_[s->name].clear();
      if (it->is_array())
        for (const auto& v : *it) set(*s, as_text(v), origin);
      else
        set(*s, as_text(*it), origin);
    } else {
      set(*s, as_text(*it), origin);
    }
  }
}

bool Flags::parse(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  return parse(args);
}

bool Flags::parse(const std::vector<std::string>& args) {
  // First pass: --help and --config (the config file is applied before command-line flags).
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--help" || args[i] == "-h") {
      std::cout << help();
      return false;
    }
    if (allow_config_ && (args[i] == "--config" || args[i].rfind("--config=", 0) == 0)) {
      std::string path = args[i] == "--config" ? (i + 1 < args.size() ? args[i + 1] : "") : args[i].substr(9);
      if (path.empty()) throw Error("--config: expected a file path");
      load_config(path);
    }
  }
  std::vector<const Spec*> positionals;
  for (const auto& s : specs_)
    if (s.kind == Kind::Positional) positionals.push_back(&s);
  size_t next_pos = 0;
  std::map<std::string, bool> list_reset;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.size() > 2 && a.rfind("--", 0) == 0) {
      std::string name = a.substr(2), value;
      bool has_value = false;
      size_t eq = name.find('=');
      if (eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_value = true;
      }
      if (allow_config_ && name == "config") {
        if (!has_value) ++i;
        continue;
      }
      const Spec* s = find(name);
      bool negated = false;
      if (!s && name.rfind("no-", 0) == 0) {
        s = find(name.substr(3));
        negated = s && s->kind == Kind::Bool;
        if (!negated) s = nullptr;
      }
      if (!s) throw Error("unknown flag --" + name + " for `rlhf " + command_ + "` (see rlhf " + command_ + " --help)");
      if (s->kind == Kind::Bool) {
        set(*s, has_value ? value : (negated ? "false" : "true"), "");
      } else if (s->kind == Kind::List) {
        if (!list_reset[s->name]) {  // the command line replaces a list from the config file
          lists_[s->name].clear();
          list_reset[s->name] = true;
        }
        if (has_value) {
          set(*s, value, "");
        } else {
          size_t n = 0;
          while (i + 1 < args.size() && !(args[i + 1].size() > 2 && args[i + 1].rfind("--", 0) == 0)) {
            set(*s, args[++i], "");
            ++n;
          }
          if (n == 0) throw Error("--" + s->name + ": expected at least one value");
        }
      } else {
        if (!has_value) {
          if (i + 1 >= args.size()) throw Error("--" + s->name + ": expected a value");
          value = args[++i];
        }
        set(*s, value, "");
      }
    } else {
      if (next_pos >= positionals.size())
        throw Error("unexpected argument \"" + a + "\" for `rlhf " + command_ + "` (see rlhf " + command_ + " --help)");
      values_[positionals[next_pos]->name] = a;
      given_[positionals[next_pos]->name] = true;
      ++next_pos;
    }
  }
  for (size_t k = next_pos; k < positionals.size(); ++k)
    if (positionals[k]->required)
      throw Error("missing argument " + positionals[k]->name + " for `rlhf " + command_ + "` (see rlhf " + command_ +
                  " --help)");
  return true;
}

std::string Flags::str(const std::string& name) const {
  const Spec& s = spec(name);
  if (s.kind == Kind::List) throw Error("internal: --" + name + " is a list flag");
  return values_.at(name);
}

long long Flags::integer(const std::string& name) const {
  std::string v = str(name);
  errno = 0;
  char* end = nullptr;
  long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != 0 || errno) throw Error("--" + name + ": expected an integer (got \"" + v + "\")");
  return x;
}

double Flags::num(const std::string& name) const {
  std::string v = str(name);
  errno = 0;
  char* end = nullptr;
  double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != 0 || errno) throw Error("--" + name + ": expected a number (got \"" + v + "\")");
  return x;
}

bool Flags::flag(const std::string& name) const { return str(name) == "true"; }

std::vector<std::string> Flags::list(const std::string& name) const {
  spec(name);
  return lists_.at(name);
}

bool Flags::given(const std::string& name) const {
  auto it = given_.find(name);
  return it != given_.end() && it->second;
}

void Flags::require_positive(const std::string& name) const {
  if (!(num(name) > 0)) throw Error("--" + name + ": must be > 0 (got " + str(name) + ")");
}

void Flags::require_range(const std::string& name, double lo, double hi) const {
  double x = num(name);
  if (!(x >= lo && x <= hi)) {
    std::ostringstream ss;
    ss << "--" << name << ": must be in [" << lo << ", " << hi << "] (got " << str(name) << ")";
    throw Error(ss.str());
  }
}

nlohmann::json Flags::resolved() const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& s : specs_) {
    if (s.kind == Kind::List) {
      j[s.name] = lists_.at(s.name);
      continue;
    }
    const std::string& v = values_.at(s.name);
    if (s.kind == Kind::Bool) {
      j[s.name] = v == "true";
      continue;
    }
    char* end = nullptr;
    if (!v.empty()) {
      long long i = std::strtoll(v.c_str(), &end, 10);
      if (*end == 0) {
        j[s.name] = i;
        continue;
      }
      double d = std::strtod(v.c_str(), &end);
      if (*end == 0) {
        j[s.name] = d;
        continue;
      }
    }
    j[s.name] = v;
  }
  return j;
}

std::string Flags::help() const {
  std::ostringstream ss;
  ss << "usage: rlhf " << command_;
  for (const auto& s : specs_)
    if (s.kind == Kind::Positional) ss << (s.required ? " " : " [") << s.name << (s.required ? "" : "]");
  ss << " [flags]\n\n" << summary_ << "\n\n";
  bool any_pos = false;
  for (const auto& s : specs_)
    if (s.kind == Kind::Positional) {
      if (!any_pos) ss << "arguments:\n";
      any_pos = true;
      ss << "  " << s.name << std::string(s.name.size() < 26 ? 26 - s.name.size() : 1, ' ') << s.help << "\n";
    }
  ss << "flags:\n";
  for (const auto& s : specs_) {
    if (s.kind == Kind::Positional) continue;
    std::string head = "--" + s.name;
    if (s.kind == Kind::Value || s.kind == Kind::Choice) head += " X";
    if (s.kind == Kind::List) head += " X...";
    ss << "  " << head << std::string(head.size() < 26 ? 26 - head.size() : 1, ' ') << s.help;
    if (s.kind == Kind::Choice) {
      ss << " {";
      for (size_t i = 0; i < s.choices.size(); ++i) ss << (i ? "|" : "") << s.choices[i];
      ss << "}";
    }
    if (s.kind == Kind::Bool)
      ss << " (default: false)";
    else if (s.kind != Kind::List && s.help.find("(default:") == std::string::npos)
      ss << " (default: " << (s.def.empty() ? "none" : s.def) << ")";
    ss << "\n";
  }
  if (allow_config_) ss << "  --config FILE" << std::string(13, ' ') << "JSON object of flag: value (flags given here win)\n";
  ss << "  --help" << std::string(20, ' ') << "show this help\n";
  return ss.str();
}

}  // namespace rlhf
