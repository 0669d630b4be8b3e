// Whole-file reads and atomic writes (temp file in the same folder + fsync + rename), so a crash
// mid-write leaves the previous good file in place.
#pragma once
#include <string>
#include <string_view>

namespace rlhf::io {

// Reads a whole file; throws rlhf::Error naming the path when it cannot.
std::string read_file(const std::string& path);

// A file written in pieces and published atomically: PATH.tmp.<pid> is written, then commit()
// fsyncs it and renames it over PATH. Destroyed without commit(), the temp file is removed and
// PATH is untouched. Errors name PATH.
class AtomicFile {
 public:
  explicit AtomicFile(const std::string& path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  void write(const void* data, size_t n);
  void commit();

 private:
  std::string path_, tmp_;
  int fd_ = -1;
};

// Writes `data` to `path` atomically (an AtomicFile written in one piece).
void write_file_atomic(const std::string& path, std::string_view data);

// Atomically replaces folder `dst` by folder `src` (both on one file system): the old `dst`, if
// any, is renamed aside first and removed after the swap.
void replace_dir_atomic(const std::string& src, const std::string& dst);

bool file_exists(const std::string& path);
bool dir_exists(const std::string& path);
void make_dirs(const std::string& path);  // mkdir -p; throws naming the path on failure
std::string join_path(const std::string& a, const std::string& b);

}  // namespace rlhf::io
