// Launching `rlhf serve` as a child process for the feedback integration tests: start it on a
// free port (read back from its first line of output), kill it (SIGTERM or SIGKILL), and run
// other rlhf commands capturing their output.
#pragma once
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

namespace rlhf::feedback::testing {

class ServerProcess {
 public:
  // Starts RLHF_BINARY serve --db DB --port 0 EXTRA...; returns once it prints its address.
  ServerProcess(const std::string& db, const std::vector<std::string>& extra = {}) {
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 1);
      close(fds[0]);
      close(fds[1]);
      std::vector<std::string> args = {RLHF_BINARY, "serve", "--db", db, "--port", "0"};
      args.insert(args.end(), extra.begin(), extra.end());
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(fds[1]);
    FILE* out = fdopen(fds[0], "r");
    char line[512] = {0};
    if (!fgets(line, sizeof line, out)) {
      fclose(out);
      throw std::runtime_error("rlhf serve printed nothing (did it fail to start?)");
    }
    out_ = out;
    std::string s(line);
    auto colon = s.find(':', s.find("127.0.0.1"));
    if (colon == std::string::npos) throw std::runtime_error("unexpected first line from rlhf serve: " + s);
    port_ = std::stoi(s.substr(colon + 1));
  }
  ~ServerProcess() { stop(SIGTERM); }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  // Sends `sig` and waits for the process; returns its wait status.
  int stop(int sig) {
    if (pid_ <= 0) return 0;
    kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    if (out_) fclose(out_), out_ = nullptr;
    return status;
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  FILE* out_ = nullptr;
};

// Runs a shell command, returns its stdout; `status` gets the exit status.
inline std::string run_command(const std::string& cmd, int* status = nullptr) {
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("popen failed: " + cmd);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int st = pclose(p);
  if (status) *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

}  // namespace rlhf::feedback::testing
