// Whole-file reads and atomic writes (temp file in the same folder + fsync + rename), so a crash
// mid-write leaves the previous good file in place.
#pragma once
#include <string>
#include <string_view>

namespace rlhf::io {

// Reads a whole file; throws rlhf::Error naming the path when it cannot.
std::string read_file(const std::string& path);

// Writes `data` to `path` atomically: PATH.tmp.<pid> is written and fsynced, then renamed over PATH.
void write_file_atomic(const std::string& path, std::string_view data);

// Atomically replaces folder `dst` by folder `src` (both on one file system): the old `dst`, if
// any, is renamed aside first and removed after the swap.
void replace_dir_atomic(const std::string& src, const std::string& dst);

bool file_exists(const std::string& path);
bool dir_exists(const std::string& path);
void make_dirs(const std::string& path);  // mkdir -p; throws naming the path on failure
std::string join_path(const std::string& a, const std::string& b);

}  // namespace rlhf::io
