// Tests of the restricted unpickler on hand-assembled opcode streams (pickletools documents the
// opcodes), plus every truncation of a real torch.save data.pkl.
#include "io/pickle.h"

#include <gtest/gtest.h>

#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "core/error.h"
#include "io/torch_checkpoint.h"

namespace {

using ct::io::pickle::Kind;
using ct::io::pickle::PickleResult;
using ct::io::pickle::Value;
using namespace std::string_literals;

// Opcode helpers: each returns the bytes of one opcode with its argument.
std::string le32(uint32_t v) {
  std::string s(4, '\0');
  for (int k = 0; k < 4; ++k) s[k] = static_cast<char>(v >> (8 * k));
  return s;
}
std::string str(const std::string& s) { return "X" + le32(static_cast<uint32_t>(s.size())) + s; }
// (Appending, not `"K" + std::string`, which trips a GCC 12 -Wrestrict false positive.)
std::string short_str(const std::string& s) {
  std::string out = "\x8c";
  out += static_cast<char>(s.size());
  return out + s;
}
std::string int1(unsigned v) {
  std::string out = "K";
  out += static_cast<char>(v);
  return out;
}
const std::string kProto2 = "\x80\x02";

PickleResult run(const std::string& bytes, const ct::io::pickle::Limits& limits = {}) {
  return ct::io::pickle::unpickle(std::as_bytes(std::span(bytes.data(), bytes.size())), "test.pkl", limits);
}

std::string error_of(const std::string& bytes, const ct::io::pickle::Limits& limits = {}) {
  try {
    run(bytes, limits);
  } catch (const ct::InputError& e) {
    return e.what();
  }
  return "(no error)";
}

// The persistent id of a FloatStorage `key` of `numel` elements, then BINPERSID.
std::string storage(const std::string& key, unsigned numel, const std::string& type = "FloatStorage") {
  return "(" + str("storage") + "ctorch\n" + type + "\n" + str(key) + str("cpu") + int1(numel) + "tQ";
}

// _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())
std::string tensor(const std::string& key, unsigned numel, unsigned offset, std::vector<unsigned> size, std::vector<unsigned> stride) {
  std::string s = "ctorch._utils\n_rebuild_tensor_v2\n(" + storage(key, numel) + int1(offset) + "(";
  for (unsigned d : size) s += int1(d);
  s += "t(";
  for (unsigned d : stride) s += int1(d);
  return s + "t\x89" + "ccollections\nOrderedDict\n)R" + "tR";
}

}  // namespace

TEST(Pickle, ParsesScalarsAndContainers) {
  std::string p = kProto2 + "}q\x00("s;
  p += str("int") + int1(200);
  p += str("neg") + "J" + le32(static_cast<uint32_t>(-5));
  p += str("i2") + "M\x34\x12";
  p += str("big") + "\x8a\x08" + std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8);
  p += str("minus1") + "\x8a\x01\xff";
  p += str("zero") + std::string("\x8a\x00", 2);
  p += str("float") + "G" + std::string("\x3f\xf8\x00\x00\x00\x00\x00\x00", 8);  // 1.5, big-endian
  p += str("t") + "\x88" + str("f") + "\x89" + str("none") + "N";
  p += str("bytes") + "C\x03" + "abc";
  p += str("tuple") + int1(1) + int1(2) + int1(3) + "\x87";
  p += str("list") + "](" + int1(7) + int1(8) + "e";
  p += short_str("short") + short_str("\xc3\xa9");  // "é"
  p += "u.";
  const PickleResult r = run(p);
  ASSERT_EQ(r.root.kind, Kind::kDict);
  const auto& d = r.dict(r.root);
  ASSERT_EQ(d.entries.size(), 14u);
  const auto get = [&](const std::string& k) { return d.entries[d.by_string.at(k)].value; };
  EXPECT_EQ(get("int").i, 200);
  EXPECT_EQ(get("neg").i, -5);
  EXPECT_EQ(get("i2").i, 0x1234);
  EXPECT_EQ(get("big").i, INT64_MAX);
  EXPECT_EQ(get("minus1").i, -1);
  EXPECT_EQ(get("zero").i, 0);
  EXPECT_EQ(get("float").f, 1.5);
  EXPECT_EQ(get("t").kind, Kind::kBool);
  EXPECT_EQ(get("t").i, 1);
  EXPECT_EQ(get("f").i, 0);
  EXPECT_EQ(get("none").kind, Kind::kNone);
  EXPECT_EQ(r.text(get("bytes")), "abc");
  ASSERT_EQ(get("tuple").kind, Kind::kTuple);
  EXPECT_EQ(r.seq(get("tuple")).size(), 3u);
  EXPECT_EQ(r.seq(get("tuple"))[2].i, 3);
  ASSERT_EQ(get("list").kind, Kind::kList);
  EXPECT_EQ(r.seq(get("list"))[1].i, 8);
  EXPECT_EQ(r.text(get("short")), "\xc3\xa9");
  EXPECT_EQ(d.entries[0].key.kind, Kind::kString);  // insertion order kept
  EXPECT_EQ(r.text(d.entries[0].key), "int");
}

TEST(Pickle, MemoSharesObjectsAndCyclesAreHarmless) {
  // l = []; l.append(l); {"a": l, "b": l}
  const std::string p = kProto2 + "}q\x01" + str("a") + "]q\x02h\x02" + "a" + "s" + str("b") + "h\x02" + "s.";
  const PickleResult r = run(p);
  const auto& d = r.dict(r.root);
  EXPECT_EQ(d.entries[0].value.node, d.entries[1].value.node);
  EXPECT_EQ(r.seq(d.entries[0].value)[0].node, d.entries[0].value.node);  // the cycle
}

TEST(Pickle, RepeatedKeyOverwritesInPlace) {
  const std::string p = kProto2 + "}(" + str("a") + int1(1) + str("b") + int1(2) + str("a") + int1(3) + "u.";
  const PickleResult r = run(p);
  const auto& d = r.dict(r.root);
  ASSERT_EQ(d.entries.size(), 2u);
  EXPECT_EQ(d.entries[0].value.i, 3);
}

TEST(Pickle, RebuildsTensorsAndSharedStorages) {
  std::string p = kProto2 + "}(" + str("w") + tensor("0", 6, 0, {2, 3}, {3, 1});
  p += str("row") + tensor("0", 6, 3, {3}, {1}) + "u.";
  const PickleResult r = run(p);
  ASSERT_EQ(r.storages.size(), 1u);  // both tensors name storage "0"
  EXPECT_EQ(r.storages[0].numel, 6);
  ASSERT_EQ(r.tensors.size(), 2u);
  EXPECT_EQ(r.tensors[1].offset, 3);
  EXPECT_EQ(r.tensors[0].shape, (std::vector<int64_t>{2, 3}));
  const auto span = std::as_bytes(std::span(p.data(), p.size()));
  EXPECT_EQ(ct::io::check_pickle(span, "t.pkl"), 2u);
}

TEST(Pickle, RejectsTensorOutsideItsStorage) {
  const std::string p = kProto2 + "}(" + str("w") + tensor("0", 6, 1, {2, 3}, {3, 1}) + "u.";
  EXPECT_NE(error_of(p).find("outside storage '0' of 6 elements"), std::string::npos) << error_of(p);
}

TEST(Pickle, RejectsStorageRedeclaredWithAnotherSize) {
  const std::string p = kProto2 + "}(" + str("a") + tensor("0", 6, 0, {6}, {1}) + str("b") + tensor("0", 8, 0, {8}, {1}) + "u.";
  EXPECT_NE(error_of(p).find("declared twice"), std::string::npos) << error_of(p);
}

TEST(Pickle, RejectsStorageKeysThatAreNotPlainNames) {
  const std::string p = kProto2 + "}(" + str("a") + tensor("../x", 6, 0, {6}, {1}) + "u.";
  EXPECT_NE(error_of(p).find("not a plain name"), std::string::npos) << error_of(p);
}

TEST(Pickle, ForbiddenGlobalsAreNamed) {
  for (const char* g : {"os\nsystem", "posix\nsystem", "nt\nsystem", "builtins\neval", "__builtin__\nexec",
                        "subprocess\nPopen", "torch.storage\n_load_from_bytes", "torch._utils\n_rebuild_qtensor"}) {
    std::string dotted = g;
    dotted[dotted.find('\n')] = '.';
    const std::string p = kProto2 + "c" + g + "\n" + str("x") + "\x85R.";
    EXPECT_NE(error_of(p).find("forbidden global '" + dotted + "'"), std::string::npos) << error_of(p);
  }
  const std::string sg = "\x80\x04" + short_str("os") + short_str("system") + "\x93" + str("x") + "\x85R.";
  EXPECT_NE(error_of(sg).find("forbidden global 'os.system'"), std::string::npos) << error_of(sg);
}

TEST(Pickle, AllowedGlobalsCannotBeCalledUnlessCallable) {
  const std::string p = kProto2 + "ctorch\nFloatStorage\n" + int1(3) + "\x85R.";
  EXPECT_NE(error_of(p).find("cannot be called"), std::string::npos) << error_of(p);
}

TEST(Pickle, RejectsUnsupportedOpcodesByName) {
  const std::pair<std::string, std::string> cases[] = {
      {kProto2 + "(" + str("x") + "ios\nsystem\n.", "INST"},
      {kProto2 + "(" + str("x") + "o.", "OBJ"},
      {kProto2 + "ccollections\nOrderedDict\n)\x81.", "NEWOBJ"},
      {kProto2 + "P0\n.", "PERSID"},
      {kProto2 + "\x82\x01.", "EXT1"},
      {kProto2 + "N2.", "DUP"},
      {kProto2 + "S'x'\n.", "STRING"},
      {kProto2 + "\x8f.", "EMPTY_SET"},
      {kProto2 + "\xff.", "unknown"},
  };
  for (const auto& [bytes, name] : cases) EXPECT_NE(error_of(bytes).find("opcode " + name), std::string::npos) << error_of(bytes);
}

TEST(Pickle, RejectsStructuralErrors) {
  const std::pair<std::string, std::string> cases[] = {
      {kProto2 + "h\x07.", "memo index 7"},
      {kProto2 + "N", "STOP"},
      {kProto2 + "NN.", "2 values"},
      {kProto2 + "s.", "underflow"},
      {kProto2 + "(N.", "STOP"},
      {kProto2 + "]" + str("k") + "Ns.", "SETITEM(S) on a list"},
      {kProto2 + "}Na.", "APPEND(S) on a dict"},
      {kProto2 + "}(Nu.", "odd number"},
      {kProto2 + "}]" + int1(1) + "s.", "dict key of type list"},
      {kProto2 + "}}b.", "BUILD on a dict"},  // a plain dict, not an OrderedDict
      {kProto2 + "X\x05\x00\x00\x00ab."s, "truncated"},
      {kProto2 + str("\xff\xfe") + ".", "UTF-8"},
      {"\x80\x09.", "protocol 9"},
      {kProto2 + "\x8a\x09" + std::string(9, '\x01') + ".", "64 bits"},
      {kProto2 + "cos" + std::string(300, 'x'), "newline"},
  };
  for (const auto& [bytes, expect] : cases) EXPECT_NE(error_of(bytes).find(expect), std::string::npos) << expect << ": " << error_of(bytes);
}

TEST(Pickle, OrderedDictBuildIsIgnored) {
  const std::string p = kProto2 + "ccollections\nOrderedDict\n)R}(" + str("_metadata") + "}ub.";
  const PickleResult r = run(p);
  ASSERT_EQ(r.root.kind, Kind::kDict);
  EXPECT_TRUE(r.dict(r.root).ordered);
  EXPECT_TRUE(r.dict(r.root).entries.empty());
}

TEST(Pickle, LimitsAreEnforced) {
  ct::io::pickle::Limits small;
  small.max_memo = 2;
  small.max_stack = 4;
  small.max_marks = 3;
  small.max_depth = 3;
  EXPECT_NE(error_of(kProto2 + "Nq\x00q\x01q\x02."s, small).find("memo"), std::string::npos);
  EXPECT_NE(error_of(kProto2 + "NNNNN.", small).find("stack deeper"), std::string::npos);
  EXPECT_NE(error_of(kProto2 + "((((N.", small).find("MARK"), std::string::npos);
  EXPECT_NE(error_of(kProto2 + "]]]]aaa.", small).find("nested deeper"), std::string::npos);
  EXPECT_NE(error_of(kProto2 + "N\x85\x85\x85\x85.", small).find("nested deeper"), std::string::npos);
}

TEST(Pickle, EveryTruncationOfARealPickleThrows) {
  const std::filesystem::path seed = std::filesystem::path(CROSSTRACE_SOURCE_DIR) / "fuzz/seeds/pickle/tiny_p4.pkl";
  std::ifstream in(seed, std::ios::binary);
  ASSERT_TRUE(in) << seed;
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string full = ss.str();
  EXPECT_EQ(ct::io::check_pickle(std::as_bytes(std::span(full.data(), full.size())), "p.pkl"), 3u);
  for (std::size_t n = 0; n < full.size(); ++n) {
    EXPECT_THROW(ct::io::check_pickle(std::as_bytes(std::span(full.data(), n)), "p.pkl"), ct::InputError) << n;
  }
}

TEST(Pickle, TorchSizeIsItsTupleAndBinUnicode8Reads) {
  std::string key8 = "\x8d";
  for (int k = 0; k < 8; ++k) key8 += static_cast<char>(k == 0 ? 4 : 0);
  const std::string p = kProto2 + "}" + key8 + "size" + "ctorch\nSize\n" + int1(2) + int1(3) + "\x86\x85R" + "s.";
  const PickleResult r = run(p);
  const auto& d = r.dict(r.root);
  ASSERT_EQ(d.entries.size(), 1u);
  EXPECT_EQ(r.text(d.entries[0].key), "size");
  ASSERT_EQ(d.entries[0].value.kind, Kind::kTuple);
  EXPECT_EQ(r.seq(d.entries[0].value)[1].i, 3);
}
