// Command-line flags and config files, declared once per command in one table: each flag has a
// name, a default and a help line, and `rlhf <command> --help` prints them all. Every flag can
// also be set from a JSON config file (`--config FILE`, keys = flag names, '-' or '_'); the
// command line wins over the file. Unknown flags/keys and malformed values are errors that name
// the flag (and the allowed values).
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace rlhf {

class Flags {
 public:
  Flags(std::string command, std::string summary);

  // Declarations. `def` is the default as text ("" = no default). Names are without "--".
  Flags& add(const std::string& name, const std::string& def, const std::string& help);
  Flags& add_bool(const std::string& name, const std::string& help);  // default false; --x / --no-x
  Flags& add_choice(const std::string& name, const std::string& def, const std::vector<std::string>& choices,
                    const std::string& help);
  // A flag taking one or more values (`--data a.jsonl b.jsonl`, or repeated `--data a --data b`).
  Flags& add_list(const std::string& name, const std::string& help);
  // A positional argument, in declaration order.
  Flags& add_positional(const std::string& name, const std::string& help, bool required = true);
  // Lets `--config FILE` set flags (on by default).
  Flags& allow_config(bool on);

  // Parses argv (argv[0..argc) are the arguments after the command name). Returns false when
  // --help was asked for (help has been printed to stdout; the caller returns 0). Throws
  // rlhf::Error for an unknown flag, a missing value or positional, or a bad config key.
  bool parse(int argc, char** argv);
  bool parse(const std::vector<std::string>& args);

  // Typed access; errors name the flag. int/num throw on text that is not a number.
  std::string str(const std::string& name) const;
  long long integer(const std::string& name) const;
  double num(const std::string& name) const;
  bool flag(const std::string& name) const;
  std::vector<std::string> list(const std::string& name) const;
  bool given(const std::string& name) const;  // set on the command line or in the config file

  // Range checks that throw "--name: must be ... (got X)".
  void require_positive(const std::string& name) const;
  void require_range(const std::string& name, double lo, double hi) const;

  // The resolved configuration: every flag with its final value (numbers as numbers).
  nlohmann::json resolved() const;
  std::string help() const;
  const std::string& command() const { return command_; }

 private:
  enum class Kind { Value, Bool, Choice, List, Positional };
  struct Spec {
    std::string name, def, help;
    Kind kind = Kind::Value;
    std::vector<std::string> choices;
    bool required = true;
  };
  const Spec& spec(const std::string& name) const;
  const Spec* find(const std::string& name) const;
  void set(const Spec& s, const std::string& value, const std::string& origin);
  void load_config(const std::string& path);

  std::string command_, summary_;
  std::vector<Spec> specs_;
  std::map<std::string, std::string> values_;
  std::map<std::string, std::vector<std::string>> lists_;
  std::map<std::string, bool> given_;
  bool allow_config_ = true;
};

}  // namespace rlhf
