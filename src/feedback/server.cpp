// The annotation server: routes of the REST API and the web UI on cpp-httplib (see server.h and
// docs/feedback.md). Handlers parse and validate, call the Store, and answer JSON.
#include "rlhf/feedback/server.h"

#include <httplib.h>

#include <chrono>
#include <sstream>

#include "rlhf/feedback/export.h"
#include "rlhf/feedback/stats.h"
#include "rlhf/feedback/web_assets.h"
#include "rlhf/io/files.h"

namespace rlhf::feedback {

void ServerConfig::validate() const {
  if (port < 0 || port > 65535) throw Error("--port must be in 0..65535 (got " + std::to_string(port) + ")");
  if (max_body_bytes < 1024) throw Error("--max-body must be at least 1024 bytes");
  if (threads < 1) throw Error("--threads must be >= 1");
  queue.validate();
}

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void send_json(httplib::Response& res, int status, const json& j) {
  res.status = status;
  res.set_content(j.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& msg) { send_json(res, status, {{"error", msg}}); }

std::string content_type_for(const std::string& path) {
  auto ends = [&](const char* e) {
    std::string s(e);
    return path.size() >= s.size() && path.compare(path.size() - s.size(), s.size(), s) == 0;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

}  // namespace

struct Server::Impl {
  Store& store;
  ServerConfig cfg;
  httplib::Server http;

  Impl(Store& s, ServerConfig c) : store(s), cfg(std::move(c)) {}

  // Runs fn(user) for an authenticated request; errors become JSON answers.
  template <class Fn>
  void with_user(const httplib::Request& req, httplib::Response& res, bool admin_only, Fn fn) {
    try {
      std::string auth = req.get_header_value("Authorization");
      const std::string prefix = "Bearer ";
      if (auth.compare(0, prefix.size(), prefix) != 0 || auth.size() == prefix.size()) {
        res.set_header("WWW-Authenticate", "Bearer");
        return send_error(res, 401, "missing token: send the header \"Authorization: Bearer TOKEN\"");
      }
      auto user = store.user_by_token(auth.substr(prefix.size()));
      if (!user) {
        res.set_header("WWW-Authenticate", "Bearer error=\"invalid_token\"");
        return send_error(res, 401, "unknown token (issue one with: rlhf feedback token)");
      }
      if (admin_only && user->role != Role::Admin) return send_error(res, 403, "this endpoint is for admins only");
      fn(*user);
    } catch (const ApiError& e) {
      send_error(res, e.status(), e.what());
    } catch (const std::exception& e) {
      send_error(res, 500, std::string("internal error: ") + e.what());
    }
  }

  void routes() {
    auto& q = cfg.queue;
    http.Get("/healthz", [](const httplib::Request&, httplib::Response& res) { send_json(res, 200, {{"ok", true}}); });

    http.Get("/api/me", [this](const httplib::Request& req, httplib::Response& res) {
      with_user(req, res, false, [&](const User& u) {
        send_json(res, 200,
                  {{"name", u.name}, {"role", role_name(u.role)}, {"labels", store.label_count_of(u.id)},
                   {"remaining", store.remaining_for(u)}});
      });
    });
    http.Get("/api/guidelines", [this](const httplib::Request& req, httplib::Response& res) {
      with_user(req, res, false, [&](const User&) { send_json(res, 200, {{"text", cfg.guidelines}}); });
    });
    http.Get("/api/tasks/next", [this, &q](const httplib::Request& req, httplib::Response& res) {
      with_user(req, res, false, [&](const User& u) {
        auto a = store.next_task(u, q, now_seconds());
        if (!a) {
          res.status = 204;
          return;
        }
        send_json(res, 200, {{"task", task_to_json(*a)}});
      });
    });
    http.Post("/api/labels", [this](const httplib::Request& req, httplib::Response& res) {
      with_user(req, res, false, [&](const User& u) {
        LabelInput in = parse_label_request(req.body);
        int64_t id = store.add_label(u, in, now_seconds());
        send_json(res, 201, {{"label_id", id}});
      });
    });
    http.Get("/api/labels", [this](const httplib::Request& req, httplib::Response& res) {
      with_user(req, res, false, [&](const User& u) {
        int64_t limit = 100;
        if (req.has_param("limit")) {
          try {
            limit = std::stoll(req.get_param_value("limit"));
          } catch (...) {
            throw ApiError(400, "query parameter \"limit\" must be an integer");
          }
          if (limit < 1 || limit > 100000) throw ApiError(400, "query parameter \"limit\" must be in 1..100000");
        }
        json out = json::array();
        for (const auto& l : store.labels_of(u.id, limit)) out.push_back(label_to_json(l));
        send_json(res, 200, {{"labels", out}});
      });
    });
    http.Delete("/api/labels/last", [this, &q](const httplib::Request& req, httplib::Response& res) {
      with_user(req, res, false, [&](const User& u) {
        auto l = store.undo_last(u, q, now_seconds());
        if (!l) throw ApiError(404, "you have no label to undo");
        send_json(res, 200, {{"label_id", l->id}, {"task_id", l->task_id}});
      });
    });
    // One label by id: its author (or an admin) may read or delete it; anyone else gets 403.
    auto label_by_id = [this](const httplib::Request& req, const User& u) {
      int64_t id = 0;
      try {
        id = std::stoll(req.matches[1]);
      } catch (...) {
        throw ApiError(404, "unknown label id");
      }
      auto l = store.label(id);
      if (!l) throw ApiError(404, "unknown label id " + std::to_string(id));
      if (l->user_id != u.id && u.role != Role::Admin) throw ApiError(403, "label " + std::to_string(id) + " is not yours");
      return *l;
    };
    http.Get(R"(/api/labels/(\d+))", [this, label_by_id](const httplib::Request& req, httplib::Response& res) {
      with_user(req, res, false, [&](const User& u) { send_json(res, 200, {{"label", label_to_json(label_by_id(req, u))}}); });
    });
    http.Delete(R"(/api/labels/(\d+))", [this, label_by_id, &q](const httplib::Request& req, httplib::Response& res) {
      with_user(req, res, false, [&](const User& u) {
        Label l = label_by_id(req, u);
        store.delete_label(l.id, q, now_seconds());
        send_json(res, 200, {{"label_id", l.id}, {"task_id", l.task_id}});
      });
    });
    http.Post("/api/feedback", [this](const httplib::Request& req, httplib::Response& res) {
      with_user(req, res, false, [&](const User& u) {
        RatingInput in = parse_rating_request(req.body);
        send_json(res, 201, {{"rating_id", store.add_rating(u, in, now_seconds())}});
      });
    });
    http.Get("/api/admin/stats", [this](const httplib::Request& req, httplib::Response& res) {
      with_user(req, res, true, [&](const User&) { send_json(res, 200, dashboard_stats(store.snapshot())); });
    });
    http.Get("/api/admin/labels", [this](const httplib::Request& req, httplib::Response& res) {
      with_user(req, res, true, [&](const User&) {
        json out = json::array();
        for (const auto& l : store.snapshot().labels) out.push_back(label_to_json(l));
        send_json(res, 200, {{"labels", out}});
      });
    });
    http.Get("/api/admin/export", [this](const httplib::Request& req, httplib::Response& res) {
      with_user(req, res, true, [&](const User&) {
        ExportOptions o;
        if (req.has_param("aggregate")) o.aggregate = req.get_param_value("aggregate");
        if (req.has_param("what")) o.what = req.get_param_value("what");
        try {
          o.validate();
        } catch (const Error& e) {
          throw ApiError(400, e.what());
        }
        std::ostringstream out;
        export_jsonl(store.snapshot(), o, out);
        res.status = 200;
        res.set_content(out.str(), "application/x-ndjson");
      });
    });
    // Anything else under /api is a JSON 404.
    auto api_404 = [](const httplib::Request& req, httplib::Response& res) {
      send_error(res, 404, "no such endpoint: " + req.method + " " + req.path);
    };
    http.Get(R"(/api/.*)", api_404);
    http.Post(R"(/api/.*)", api_404);
    http.Put(R"(/api/.*)", api_404);
    http.Patch(R"(/api/.*)", api_404);
    http.Delete(R"(/api/.*)", api_404);

    // The web UI: / (annotator), /admin (dashboard), and their assets.
    http.Get(R"(/|/admin|/[A-Za-z0-9_\-]+\.(html|js|css|svg))", [this](const httplib::Request& req,
                                                                      httplib::Response& res) {
      std::string path = req.path == "/" ? "/index.html" : req.path == "/admin" ? "/admin.html" : req.path;
      if (!cfg.web_dir.empty()) {
        std::string file = cfg.web_dir + path;
        if (!io::file_exists(file)) return send_error(res, 404, "not found: " + req.path);
        res.set_content(io::read_file(file), content_type_for(path).c_str());
        return;
      }
      const WebAsset* a = find_web_asset(path);
      if (!a) return send_error(res, 404, "not found: " + req.path);
      res.set_content(a->data, a->content_type);
    });

    // Every answer: no caching of API data, no sniffing, and a CSP that allows only our own
    // scripts and styles, so injected markup could not run even if it were ever rendered.
    http.set_default_headers({{"X-Content-Type-Options", "nosniff"},
                              {"Referrer-Policy", "no-referrer"},
                              {"X-Frame-Options", "DENY"},
                              {"Cache-Control", "no-store"},
                              {"Content-Security-Policy",
                               "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"}});
    http.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request& req,
                                                                         httplib::Response& res) {
      if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
      if (res.status == 413)
        send_error(res, 413, "request body too large (limit " + std::to_string(cfg.max_body_bytes) + " bytes)");
      else if (res.status == 404)
        send_error(res, 404, "not found: " + req.path);
      else
        send_error(res, res.status, "HTTP " + std::to_string(res.status));
      return httplib::Server::HandlerResponse::Handled;
    }));
    http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string msg = "internal error";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        msg += std::string(": ") + e.what();
      } catch (...) {
      }
      send_error(res, 500, msg);
    });
  }
};

Server::Server(Store& store, ServerConfig cfg) : impl_(std::make_unique<Impl>(store, std::move(cfg))) {
  impl_->cfg.validate();
  auto& h = impl_->http;
  h.set_payload_max_length(impl_->cfg.max_body_bytes);
  int threads = impl_->cfg.threads;
  h.new_task_queue = [threads] { return new httplib::ThreadPool(size_t(threads)); };
  h.set_tcp_nodelay(true);  // small JSON answers: no Nagle / delayed-ACK stalls (~40 ms each)
  h.set_keep_alive_max_count(1000);
  h.set_keep_alive_timeout(2);
  h.set_read_timeout(10);
  h.set_write_timeout(10);
  impl_->routes();
}

Server::~Server() { stop(); }

int Server::bind() {
  auto& c = impl_->cfg;
  if (c.port == 0) {
    int p = impl_->http.bind_to_any_port(c.host);
    if (p <= 0) throw Error("cannot bind " + c.host + " to a free port");
    c.port = p;
  } else if (!impl_->http.bind_to_port(c.host, c.port)) {
    throw Error("cannot bind " + c.host + ":" + std::to_string(c.port) + " (in use? pick another --port)");
  }
  return c.port;
}

void Server::run() { impl_->http.listen_after_bind(); }
void Server::stop() {
  if (impl_ && impl_->http.is_running()) impl_->http.stop();
}
bool Server::running() const { return impl_->http.is_running(); }

}  // namespace rlhf::feedback
