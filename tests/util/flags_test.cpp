// Flags: declaration table, config files, errors that name the flag or key.
#include "rlhf/util/flags.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "rlhf/io/error.h"

using rlhf::Flags;

static Flags make() {
  Flags f("demo", "a demo command");
  f.add("lr", "0.001", "learning rate").add("steps", "10", "steps").add_bool("bf16", "use bf16");
  f.add_choice("algo", "ppo", {"ppo", "rloo"}, "algorithm").add_list("data", "data files");
  f.add_positional("OUT", "output folder", false);
  return f;
}

TEST(Flags, DefaultsAndOverrides) {
  Flags f = make();
  ASSERT_TRUE(f.parse({"--lr", "0.5", "--bf16", "--data", "a", "b", "--algo=rloo", "out"}));
  EXPECT_DOUBLE_EQ(f.num("lr"), 0.5);
  EXPECT_EQ(f.integer("steps"), 10);
  EXPECT_TRUE(f.flag("bf16"));
  EXPECT_EQ(f.str("algo"), "rloo");
  EXPECT_EQ(f.list("data"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(f.str("OUT"), "out");
  EXPECT_TRUE(f.given("lr"));
  EXPECT_FALSE(f.given("steps"));
  EXPECT_EQ(f.resolved()["steps"], 10);
}

TEST(Flags, Errors) {
  Flags f = make();
  try {
    f.parse({"--lrr", "1"});
    FAIL();
  } catch (const rlhf::Error& e) {
    EXPECT_NE(std::string(e.what()).find("--lrr"), std::string::npos);
  }
  Flags g = make();
  try {
    g.parse({"--algo", "dpo"});
    FAIL();
  } catch (const rlhf::Error& e) {
    EXPECT_NE(std::string(e.what()).find("ppo|rloo"), std::string::npos);
  }
  Flags h = make();
  h.parse({"--steps", "ten"});
  EXPECT_THROW(h.integer("steps"), rlhf::Error);
}

TEST(Flags, ConfigFileAndPrecedence) {
  std::string path = ::testing::TempDir() + "/flags_cfg.json";
  {
    std::ofstream o(path);
    o << R"({"lr": 0.25, "steps": 7, "bf16": true, "data": ["x", "y"]})";
  }
  Flags f = make();
  f.parse({"--config", path, "--steps", "9"});
  EXPECT_DOUBLE_EQ(f.num("lr"), 0.25);
  EXPECT_EQ(f.integer("steps"), 9);  // command line wins
  EXPECT_TRUE(f.flag("bf16"));
  EXPECT_EQ(f.list("data").size(), 2u);

  {
    std::ofstream o(path);
    o << R"({"learning_rate": 0.25})";
  }
  Flags g = make();
  try {
    g.parse({"--config", path});
    FAIL();
  } catch (const rlhf::Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("learning_rate"), std::string::npos);
    EXPECT_NE(m.find(path), std::string::npos);
  }
}
