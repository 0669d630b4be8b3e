// Whole-file reads and atomic writes.
#include "rlhf/io/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "rlhf/io/error.h"

namespace fs = std::filesystem;

namespace rlhf::io {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open for reading (" + std::strerror(errno) + ")");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error(path + ": read failed");
  return ss.str();
}

static void fsync_dir_of(const std::string& path) {
  std::string dir = fs::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

void write_file_atomic(const std::string& path, std::string_view data) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw Error(path + ": cannot create " + tmp + " (" + std::strerror(errno) + ")");
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw Error(path + ": write failed (" + std::strerror(e) + ")");
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    throw Error(path + ": fsync/close failed (" + std::strerror(errno) + ")");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    throw Error(path + ": rename from " + tmp + " failed (" + std::strerror(e) + ")");
  }
  fsync_dir_of(path);
}

void replace_dir_atomic(const std::string& src, const std::string& dst) {
  std::error_code ec;
  std::string old = dst + ".old." + std::to_string(::getpid());
  bool had = fs::exists(dst);
  if (had) {
    fs::rename(dst, old, ec);
    if (ec) throw Error(dst + ": cannot move aside (" + ec.message() + ")");
  }
  fs::rename(src, dst, ec);
  if (ec) {
    if (had) fs::rename(old, dst);
    throw Error(dst + ": cannot rename " + src + " into place (" + ec.message() + ")");
  }
  fsync_dir_of(dst);
  if (had) fs::remove_all(old, ec);
}

bool file_exists(const std::string& path) { return fs::is_regular_file(path); }
bool dir_exists(const std::string& path) { return fs::is_directory(path); }

void make_dirs(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) throw Error(path + ": cannot create folder (" + ec.message() + ")");
}

std::string join_path(const std::string& a, const std::string& b) {
  return (fs::path(a) / b).string();
}

}  // namespace rlhf::io
