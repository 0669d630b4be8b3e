// The embedded default world, in one include: prompts and splits, the response writer, the
// pretraining corpus, SFT demonstrations, the gold judge and the simulated annotators.
// Pure C++ (no libtorch), in rlhf_core. docs/world.md describes the world.
#pragma once
#include "rlhf/world/annotators.h"
#include "rlhf/world/corpus.h"
#include "rlhf/world/demos.h"
#include "rlhf/world/judge.h"
#include "rlhf/world/prompts.h"
#include "rlhf/world/responses.h"
#include "rlhf/world/rng.h"
