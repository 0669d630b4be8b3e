// The feedback store's schema as numbered migrations: migration i (1-based) brings a database
// from version i-1 to i. Append new migrations; never edit a released one.
#pragma once
#include <string>
#include <vector>

namespace rlhf::feedback {

const std::vector<std::string>& schema_migrations();

}  // namespace rlhf::feedback
