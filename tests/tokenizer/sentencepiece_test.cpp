// SentencePiece-style vocabularies: tok512.model through libsentencepiece against our own
// score-driven encoder over the same vocabulary as stored in the stories260K GGUF file (two
// independent implementations), hand-checked pieces, decoding, and the tokenizer.model that
// SpmBpeTokenizer::save writes (loaded back by libsentencepiece).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <algorithm>
#include <map>
#include <random>

#include "rlhf/io/error.h"
#include "rlhf/io/files.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/tokenizer/formats.h"
#include "rlhf/tokenizer/sentencepiece.h"

namespace {

const std::string kDir = std::string(RLHF_SHARED_DATA) + "/models/stories260K";
const std::string kModel = kDir + "/tok512.model";
const std::string kGguf = kDir + "/tinyllamas-stories-260k-f32.gguf";

bool have() { return std::ifstream(kModel).good() && std::ifstream(kGguf).good(); }

const std::vector<std::string> kSentences = {
    "Once upon a time, there was a little girl named Lily.",
    "She loved to play outside in the park.",
    "\"Lily, let's go to the park.\" Lily was sad and didn't know what to do.",
    "The cat sat on the mat. It was 42 days old!",
    "Tom and Sue saw a big, red ball.\nThey ran to get it.",
    "Grüße aus München, 東京 and 🤖.",  // characters outside the 512-piece vocabulary: byte fallback
};

// libsentencepiece itself (through its shim, loaded with dlopen beside whatever protobuf runtime
// the process has).
std::shared_ptr<rlhf::Tokenizer> libsentencepiece(const std::string& path) {
  return std::make_shared<rlhf::SentencePieceTokenizer>(rlhf::io::read_file(path), path);
}

// Protobuf wire format by hand, for a SentencePiece ModelProto written in the test.
std::string varint(uint64_t v) {
  std::string s;
  do {
    s += static_cast<char>((v & 0x7F) | (v > 0x7F ? 0x80 : 0));
    v >>= 7;
  } while (v);
  return s;
}
std::string field_bytes(int field, const std::string& payload) { return varint(field << 3 | 2) + varint(payload.size()) + payload; }
std::string field_varint(int field, uint64_t v) { return varint(field << 3) + varint(v); }
std::string field_float(int field, float f) {
  std::string s = varint(field << 3 | 5);
  char b[4];
  std::memcpy(b, &f, 4);
  return s + std::string(b, 4);
}

std::string temp_dir(const std::string& name) {
  return ::testing::TempDir() + "rlhf_spm_" + std::to_string(::getpid()) + "_" + name;
}

}  // namespace

TEST(SentencePiece, Tok512SpecialIds) {
  if (!have()) GTEST_SKIP() << "missing stories260K files in " << kDir;
  auto sp = rlhf::load_tokenizer(kModel);
  EXPECT_EQ(sp->kind(), "sentencepiece");
  EXPECT_EQ(sp->vocab_size(), 512);
  EXPECT_EQ(sp->bos_id(), 1);
  EXPECT_EQ(sp->eos_id(), 2);
  EXPECT_TRUE(sp->add_bos_by_default());
  EXPECT_EQ(sp->id_to_token(1), "<s>");
  EXPECT_EQ(sp->token_to_id("<0x0A>"), 3 + 10);  // byte pieces follow <unk> <s> </s>
}

TEST(SentencePiece, Tok512MatchesLibsentencepieceIds) {
  if (!have()) GTEST_SKIP() << "missing stories260K files in " << kDir;
  // Ids produced by libsentencepiece 0.1.97 (Debian) with tok512.model, an independent
  // implementation; the model's normalizer trims and collapses spaces (remove_extra_whitespaces).
  auto sp = rlhf::load_tokenizer(kModel);
  EXPECT_EQ(sp->encode("Once upon a time, there was a little girl named Lily."),
            (std::vector<int32_t>{403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426}));
  EXPECT_EQ(sp->encode("Hello  world 123 \n\n x"),
            (std::vector<int32_t>{346, 306, 414, 263, 304, 341, 410, 475, 479, 472, 410, 13, 13, 410, 444}));
  EXPECT_EQ(sp->encode("Gr\xc3\xbc\xc3\x9f" "e \xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\xa4\x96!"),
            (std::vector<int32_t>{410, 463, 420, 198, 191, 198, 162, 411, 410, 233, 160, 180, 231, 189, 175, 410, 243,
                                  162, 167, 153, 443}));
  EXPECT_EQ(sp->encode(" lead"), (std::vector<int32_t>{278, 411, 380}));
  // And libsentencepiece itself, in this process.
  auto lib = libsentencepiece(kModel);
  EXPECT_EQ(lib->vocab_size(), 512);
  EXPECT_EQ(lib->encode("Once upon a time, there was a little girl named Lily."),
            sp->encode("Once upon a time, there was a little girl named Lily."));
  for (const auto& s : kSentences) EXPECT_EQ(sp->encode(s), lib->encode(s)) << s;
}

TEST(SentencePiece, GgufVocabularyEncodesLikeTok512) {
  if (!have()) GTEST_SKIP() << "missing stories260K files in " << kDir;
  auto sp = rlhf::load_tokenizer(kModel);
  auto gg = rlhf::load_tokenizer(kGguf);
  EXPECT_EQ(gg->kind(), "sentencepiece");
  EXPECT_EQ(gg->vocab_size(), 512);
  EXPECT_EQ(gg->bos_id(), 1);
  EXPECT_EQ(gg->eos_id(), 2);
  for (const auto& s : kSentences) {
    std::vector<int32_t> a = sp->encode(s), b = gg->encode(s);
    EXPECT_EQ(a, b) << s;
    EXPECT_EQ(sp->decode(a), s);
    EXPECT_EQ(gg->decode(b), s);
  }
  EXPECT_EQ(gg->encode("Once upon a time, there was a little girl named Lily."),
            (std::vector<int32_t>{403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426}));
  // By hand: the dummy prefix makes "▁Once" a piece; every id is a piece that spells the text.
  std::vector<int32_t> ids = gg->encode("Once upon a time");
  std::string spelled;
  for (int32_t id : ids) spelled += gg->id_to_token(id);
  EXPECT_EQ(spelled, "\xe2\x96\x81" "Once\xe2\x96\x81upon\xe2\x96\x81" "a\xe2\x96\x81time");
  // Characters missing from the vocabulary become their UTF-8 bytes: 東 = E6 9D B1.
  std::vector<int32_t> east = gg->encode("東");
  ASSERT_EQ(east.size(), 4u);  // "▁" then 3 byte pieces
  EXPECT_EQ(gg->id_to_token(east[1]), "<0xE6>");
  EXPECT_EQ(gg->id_to_token(east[2]), "<0x9D>");
  EXPECT_EQ(gg->id_to_token(east[3]), "<0xB1>");
}

TEST(SentencePiece, DecodeSpecialsAndRoundTrip) {
  if (!have()) GTEST_SKIP() << "missing stories260K files in " << kDir;
  auto gg = rlhf::load_tokenizer(kGguf);
  std::vector<int32_t> ids = gg->encode("Lily ran.");
  ids.insert(ids.begin(), gg->bos_id());
  ids.push_back(gg->eos_id());
  EXPECT_EQ(gg->decode(ids, true), "Lily ran.");
  EXPECT_EQ(gg->decode(ids, false), "<s>Lily ran.</s>");
  EXPECT_EQ(gg->encode("<s>Hi", true).front(), 1);
  EXPECT_NE(gg->encode("<s>Hi", false).front(), 1);
  // Our encoder keeps every byte: whitespace runs, leading spaces and invalid UTF-8 round-trip.
  std::mt19937 rng(3);
  for (int k = 0; k < 200; ++k) {
    std::string s(rng() % 60, '\0');
    for (auto& c : s) c = static_cast<char>(rng() % 256);
    EXPECT_EQ(gg->decode(gg->encode(s)), s);
  }
  for (std::string s : {"  two  spaces ", " lead", "tab\there\n\n", "ü🤖"}) EXPECT_EQ(gg->decode(gg->encode(s)), s);
}

TEST(SentencePiece, SavedGgufVocabularyLoadsInLibsentencepiece) {
  if (!have()) GTEST_SKIP() << "missing stories260K files in " << kDir;
  auto gg = rlhf::load_tokenizer(kGguf);
  std::string dir = temp_dir("ckpt");
  gg->save(dir);
  ASSERT_TRUE(rlhf::io::file_exists(dir + "/tokenizer.model"));
  ASSERT_TRUE(rlhf::io::file_exists(dir + "/tokenizer_config.json"));
  auto back = rlhf::load_tokenizer(dir);  // the model proto written by save(), read back
  EXPECT_NE(dynamic_cast<rlhf::SpmBpeTokenizer*>(back.get()), nullptr);
  EXPECT_EQ(back->vocab_size(), 512);
  EXPECT_EQ(back->bos_id(), 1);
  EXPECT_EQ(back->eos_id(), 2);
  auto extra = kSentences;
  extra.push_back("  double  spaces kept ");  // the written model does not collapse whitespace
  for (const auto& s : extra) EXPECT_EQ(back->encode(s), gg->encode(s)) << s;
  auto lib = libsentencepiece(dir + "/tokenizer.model");  // libsentencepiece accepts the file
  EXPECT_EQ(lib->vocab_size(), 512);
  for (const auto& s : extra) EXPECT_EQ(lib->encode(s), gg->encode(s)) << s;
  // A SentencePiece tokenizer saves its model file unchanged.
  auto sp = rlhf::load_tokenizer(kModel);
  std::string dir2 = temp_dir("ckpt2");
  sp->save(dir2);
  EXPECT_EQ(rlhf::io::read_file(dir2 + "/tokenizer.model"), rlhf::io::read_file(kModel));
  auto cfg = rlhf::read_tokenizer_config(dir2 + "/tokenizer_config.json");
  EXPECT_EQ(cfg.bos, "<s>");
  EXPECT_EQ(cfg.eos, "</s>");
}

// A Llama-style tokenizer.json (what Hugging Face's converter writes for a SentencePiece BPE
// model: byte_fallback, Prepend/Replace normalizers, merges listed by the score of the piece they
// make) built here from the GGUF vocabulary must encode like the GGUF vocabulary itself.
TEST(SentencePiece, LlamaStyleTokenizerJson) {
  if (!have()) GTEST_SKIP() << "missing stories260K files in " << kDir;
  auto gg = rlhf::load_tokenizer(kGguf);
  const auto& table = dynamic_cast<const rlhf::SpmTokenizerBase&>(*gg).table();
  rlhf::io::json vocab = rlhf::io::json::object();
  std::map<std::string, int> ids;
  for (size_t id = 0; id < table.pieces.size(); ++id) {
    vocab[table.pieces[id]] = id;
    ids[table.pieces[id]] = static_cast<int>(id);
  }
  struct Merge {
    std::string l, r;
    float score;
  };
  std::vector<Merge> merges;
  for (size_t id = 0; id < table.pieces.size(); ++id) {
    if (table.types[id] != rlhf::PieceType::Normal) continue;
    const std::string& p = table.pieces[id];
    std::vector<Merge> local;
    for (size_t k = 1; k < p.size(); ++k) {
      if ((static_cast<unsigned char>(p[k]) & 0xC0) == 0x80) continue;  // not a character boundary
      std::string l = p.substr(0, k), r = p.substr(k);
      if (ids.count(l) && ids.count(r)) local.push_back({l, r, table.scores[id]});
    }
    std::sort(local.begin(), local.end(), [&](const Merge& a, const Merge& b) {
      return std::make_pair(ids[a.l], ids[a.r]) < std::make_pair(ids[b.l], ids[b.r]);
    });
    merges.insert(merges.end(), local.begin(), local.end());
  }
  std::stable_sort(merges.begin(), merges.end(), [](const Merge& a, const Merge& b) { return a.score > b.score; });
  rlhf::io::json jm = rlhf::io::json::array();
  for (const auto& m : merges) jm.push_back(m.l + " " + m.r);
  const std::string sp = "\xe2\x96\x81";
  rlhf::io::json doc = {
      {"version", "1.0"},
      {"added_tokens",
       {{{"id", 0}, {"content", "<unk>"}, {"special", true}},
        {{"id", 1}, {"content", "<s>"}, {"special", true}},
        {{"id", 2}, {"content", "</s>"}, {"special", true}}}},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         {{{"type", "Prepend"}, {"prepend", sp}}, {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", sp}}}}}},
      {"pre_tokenizer", nullptr},
      {"model",
       {{"type", "BPE"}, {"unk_token", "<unk>"}, {"byte_fallback", true}, {"fuse_unk", true}, {"vocab", vocab}, {"merges", jm}}}};
  std::string dir = temp_dir("llama_json");
  rlhf::io::make_dirs(dir);
  rlhf::io::write_json_atomic(dir + "/tokenizer.json", doc);
  auto tj = rlhf::load_tokenizer(dir);
  EXPECT_EQ(tj->kind(), "sentencepiece");
  EXPECT_EQ(tj->bos_id(), 1);
  EXPECT_EQ(tj->eos_id(), 2);
  auto extra = kSentences;
  extra.push_back("  double  spaces, tabs\tand\nnewlines ");
  for (const auto& s : extra) {
    EXPECT_EQ(tj->encode(s), gg->encode(s)) << s;
    EXPECT_EQ(tj->decode(tj->encode(s)), s);
  }
}

// A unigram model (which only libsentencepiece encodes here), written by hand: the Viterbi
// segmentation maximises the summed piece scores, computed below by hand.
TEST(SentencePiece, UnigramModelEncodesThroughLibsentencepiece) {
  const std::string sp = "\xe2\x96\x81";
  struct P {
    std::string piece;
    float score;
    int type;
  };
  const std::vector<P> pieces = {{"<unk>", 0, 2}, {"<s>", 0, 3},      {"</s>", 0, 3},    {sp, -2, 1},
                                 {"a", -3, 1},    {"b", -3, 1},       {"ab", -4, 1},     {sp + "a", -2.5f, 1},
                                 {"ba", -1, 1},   {sp + "ab", -7, 1}, {sp + "b", -6, 1}};
  std::string model;
  for (const auto& p : pieces)
    model += field_bytes(1, field_bytes(1, p.piece) + field_float(2, p.score) + field_varint(3, p.type));
  model += field_bytes(2, field_varint(3, 1) + field_varint(4, pieces.size()));  // model_type UNIGRAM
  model += field_bytes(3, field_bytes(1, "identity") + field_varint(3, 1) + field_varint(4, 1) + field_varint(5, 1));
  std::string dir = temp_dir("unigram");
  rlhf::io::make_dirs(dir);
  const std::string path = dir + "/uni.model";
  rlhf::io::write_file_atomic(path, model);
  auto tok = rlhf::load_tokenizer(path);
  ASSERT_NE(dynamic_cast<rlhf::SentencePieceTokenizer*>(tok.get()), nullptr);
  EXPECT_EQ(tok->vocab_size(), 11);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  // "▁ab": ▁ab -7, ▁a+b -5.5, ▁+ab -6, ▁+a+b -8 -> ▁a b. "▁ba": ▁+ba -3 beats ▁b+a -9 and ▁+b+a -8.
  // (Greedy longest match would give ▁ab ▁ ba, and BPE-style merging ▁ ba first too.)
  EXPECT_EQ(tok->encode("ab ba"), (std::vector<int32_t>{7, 5, 3, 8}));
  EXPECT_EQ(tok->decode(tok->encode("ab ba")), "ab ba");
  // No byte fallback: an unknown character is <unk>.
  EXPECT_EQ(tok->encode("abc"), (std::vector<int32_t>{7, 5, 0}));
  EXPECT_EQ(tok->encode("<s>ba", true), (std::vector<int32_t>{1, 3, 8}));
  // A corrupt model is an error naming the file.
  rlhf::io::write_file_atomic(dir + "/bad.model", model.substr(0, model.size() - 7));
  try {
    rlhf::load_tokenizer(dir + "/bad.model");
    ADD_FAILURE() << "a truncated model loaded";
  } catch (const rlhf::Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.model"), std::string::npos) << e.what();
  }
}
