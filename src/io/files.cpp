// Whole-file reads and atomic writes.
#include "rlhf/io/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
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

AtomicFile::AtomicFile(const std::string& path) : path_(path), tmp_(path + ".tmp." + std::to_string(::getpid())) {
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd_ < 0) throw Error(path_ + ": cannot create " + tmp_ + " (" + std::strerror(errno) + ")");
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
}

void AtomicFile::write(const void* data, size_t n) {
  if (fd_ < 0) throw Error(path_ + ": write after commit");
  const char* c = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd_, c, std::min<size_t>(n, size_t{1} << 30));
    if (w < 0) {
      if (errno == EINTR) continue;
      throw Error(path_ + ": write failed (" + std::strerror(errno) + ")");
    }
    c += w;
    n -= static_cast<size_t>(w);
  }
}

void AtomicFile::commit() {
  if (fd_ < 0) throw Error(path_ + ": committed twice");
  int fd = fd_;
  fd_ = -1;
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int e = errno;
    ::unlink(tmp_.c_str());
    throw Error(path_ + ": fsync/close failed (" + std::strerror(e) + ")");
  }
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp_.c_str());
    throw Error(path_ + ": rename from " + tmp_ + " failed (" + std::strerror(e) + ")");
  }
  fsync_dir_of(path_);
}

void write_file_atomic(const std::string& path, std::string_view data) {
  AtomicFile f(path);
  f.write(data.data(), data.size());
  f.commit();
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
