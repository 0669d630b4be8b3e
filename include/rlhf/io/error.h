// The one exception type the library throws for bad input or failed I/O.
// Messages name the file, line, field, tensor or flag at fault and, where one exists, the fix.
#pragma once
#include <stdexcept>
#include <string>

namespace rlhf {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace rlhf
