// Tests of ZipArchive on archives assembled here byte by byte (APPNOTE.TXT layout), with and
// without ZIP64 records, stored and deflated, plus every truncation and many corruptions.
#include "io/zip_archive.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"

namespace {

void put16(std::string& s, uint32_t v) {
  s += static_cast<char>(v & 0xFF);
  s += static_cast<char>((v >> 8) & 0xFF);
}
void put32(std::string& s, uint32_t v) {
  put16(s, v & 0xFFFF);
  put16(s, v >> 16);
}
void put64(std::string& s, uint64_t v) {
  put32(s, static_cast<uint32_t>(v));
  put32(s, static_cast<uint32_t>(v >> 32));
}

uint32_t crc_of(const std::string& s) {
  return static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(s.data()), static_cast<uInt>(s.size())));
}

std::string raw_deflate(const std::string& in) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, static_cast<uLong>(in.size())), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

struct Item {
  std::string name;
  std::string data;  // uncompressed
  bool deflate = false;
};

// Writes a zip; with `zip64` every size/offset field is the 0xFFFFFFFF sentinel and the real
// values live in ZIP64 extra fields and a ZIP64 end record, as large torch.save files have.
std::string build_zip(const std::vector<Item>& items, bool zip64 = false, const std::string& comment = "") {
  std::string out, cd;
  for (const Item& it : items) {
    const std::string payload = it.deflate ? raw_deflate(it.data) : it.data;
    const uint64_t offset = out.size();
    std::string extra_local, extra_central;
    if (zip64) {
      put16(extra_local, 1), put16(extra_local, 16), put64(extra_local, it.data.size()), put64(extra_local, payload.size());
      put16(extra_central, 1), put16(extra_central, 24), put64(extra_central, it.data.size()), put64(extra_central, payload.size()),
          put64(extra_central, offset);
    }
    const uint32_t csize = zip64 ? 0xFFFFFFFF : static_cast<uint32_t>(payload.size());
    const uint32_t usize = zip64 ? 0xFFFFFFFF : static_cast<uint32_t>(it.data.size());
    put32(out, 0x04034b50), put16(out, 45), put16(out, 0), put16(out, it.deflate ? 8 : 0), put32(out, 0);
    put32(out, crc_of(it.data)), put32(out, csize), put32(out, usize);
    put16(out, static_cast<uint32_t>(it.name.size())), put16(out, static_cast<uint32_t>(extra_local.size()));
    out += it.name + extra_local + payload;
    put32(cd, 0x02014b50), put16(cd, 45), put16(cd, 45), put16(cd, 0), put16(cd, it.deflate ? 8 : 0), put32(cd, 0);
    put32(cd, crc_of(it.data)), put32(cd, csize), put32(cd, usize);
    put16(cd, static_cast<uint32_t>(it.name.size())), put16(cd, static_cast<uint32_t>(extra_central.size())), put16(cd, 0);
    put16(cd, 0), put16(cd, 0), put32(cd, 0), put32(cd, zip64 ? 0xFFFFFFFF : static_cast<uint32_t>(offset));
    cd += it.name + extra_central;
  }
  const uint64_t cd_offset = out.size();
  out += cd;
  if (zip64) {
    const uint64_t record = out.size();
    put32(out, 0x06064b50), put64(out, 44), put16(out, 45), put16(out, 45), put32(out, 0), put32(out, 0);
    put64(out, items.size()), put64(out, items.size()), put64(out, cd.size()), put64(out, cd_offset);
    put32(out, 0x07064b50), put32(out, 0), put64(out, record), put32(out, 1);
  }
  const uint32_t n = zip64 ? 0xFFFF : static_cast<uint32_t>(items.size());
  put32(out, 0x06054b50), put16(out, 0), put16(out, 0), put16(out, n), put16(out, n);
  put32(out, zip64 ? 0xFFFFFFFF : static_cast<uint32_t>(cd.size()));
  put32(out, zip64 ? 0xFFFFFFFF : static_cast<uint32_t>(cd_offset));
  put16(out, static_cast<uint32_t>(comment.size()));
  return out + comment;
}

std::span<const std::byte> bytes(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }
std::string text(std::span<const std::byte> b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }

std::string error_of(const std::string& file) {
  try {
    ct::io::ZipArchive zip(bytes(file), "t.zip");
    for (const auto& e : zip.entries()) zip.read(e, 1 << 20, true);
  } catch (const ct::InputError& e) {
    return e.what();
  }
  return "(no error)";
}

const std::vector<Item> kItems = {{"archive/data.pkl", "pickle bytes"}, {"archive/data/0", std::string(64, 'w')}, {"archive/version", "3\n"}};

}  // namespace

TEST(ZipArchive, StoredEntriesAreZeroCopyViews) {
  const std::string file = build_zip(kItems);
  ct::io::ZipArchive zip(bytes(file), "t.zip");
  ASSERT_EQ(zip.entries().size(), 3u);
  const auto* e = zip.find("archive/data/0");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(zip.find("archive/data/1"), nullptr);
  const auto c = zip.read(*e, 1 << 20, true);
  EXPECT_EQ(c.owned, nullptr);
  EXPECT_GE(reinterpret_cast<const char*>(c.bytes.data()), file.data());
  EXPECT_LT(reinterpret_cast<const char*>(c.bytes.data()), file.data() + file.size());
  EXPECT_EQ(text(c.bytes), std::string(64, 'w'));
}

TEST(ZipArchive, FindsTheEndRecordBehindACommentWithAFakeSignature) {
  // The fake signature sits more than 22 bytes before the end, so the back-scan meets it first.
  static constexpr char kComment[] = "PK\x05\x06 a comment long enough to be scanned before the real record";
  const std::string file = build_zip(kItems, false, std::string(kComment, sizeof kComment - 1));
  ct::io::ZipArchive zip(bytes(file), "t.zip");
  EXPECT_EQ(zip.entries().size(), 3u);
}

TEST(ZipArchive, ReadsZip64RecordsAndExtraFields) {
  const std::string file = build_zip(kItems, true);
  ct::io::ZipArchive zip(bytes(file), "t.zip");
  ASSERT_EQ(zip.entries().size(), 3u);
  EXPECT_EQ(zip.entries()[1].uncompressed_size, 64u);
  EXPECT_EQ(text(zip.read(zip.entries()[0], 100, true).bytes), "pickle bytes");
}

TEST(ZipArchive, InflatesDeflatedEntriesWithLimitAndCrc) {
  const std::string big(100000, 'z');
  const std::string file = build_zip({{"a/data.pkl", big, true}, {"a/x", "tiny", true}}, true);
  ct::io::ZipArchive zip(bytes(file), "t.zip");
  const auto c = zip.read(*zip.find("a/data.pkl"), 1 << 20, true);
  ASSERT_NE(c.owned, nullptr);
  EXPECT_EQ(text(c.bytes), big);
  EXPECT_THROW(zip.read(*zip.find("a/data.pkl"), 1000, true), ct::InputError);

  // Same CRC change in both headers: only the inflated data can reveal it.
  std::string bad = file;
  bad[14] ^= 1;                             // first local header's CRC
  bad[bad.find("PK\x01\x02") + 16] ^= 1;    // first central entry's CRC
  EXPECT_NE(error_of(bad).find("CRC-32 mismatch"), std::string::npos) << error_of(bad);
}

TEST(ZipArchive, RejectsMalformedDirectories) {
  const std::string good = build_zip(kItems);
  const std::size_t cd = good.find("PK\x01\x02");
  const std::size_t eocd = good.rfind("PK\x05\x06");
  struct Case {
    std::vector<std::pair<std::size_t, char>> patch;  // (offset, new byte)
    const char* expect;
  };
  const Case cases[] = {
      {{{cd + 1, 'X'}}, "bad signature"},
      {{{eocd + 8, 100}, {eocd + 10, 100}}, "cannot hold 100 entries"},
      {{{eocd + 19, 0x7f}}, "outside the file"},
      {{{eocd + 4, 1}}, "multi-disk"},
      {{{cd + 10, 9}}, "compression method 9"},
      {{{cd + 8, 1}}, "encrypted"},
      {{{30 + 3, 'X'}}, "local header names"},          // first local name "archive/..." -> "arcXive"
      {{{cd + 42, 1}}, "bad local header signature"},   // local header offset 1
      {{{cd + 16, static_cast<char>(good[cd + 16] ^ 1)}}, "differs from the central directory"},
      {{{cd + 20, 13}, {cd + 24, 13}}, "differs from the central directory"},
  };
  for (const auto& c : cases) {
    std::string bad = good;
    for (const auto& [at, value] : c.patch) bad[at] = value;
    const std::string what = error_of(bad);
    EXPECT_NE(what.find(c.expect), std::string::npos) << c.expect << ": " << what;
    EXPECT_EQ(what.rfind("t.zip: zip: ", 0), 0u) << what;
  }
  EXPECT_NE(error_of(build_zip({{"a", "1"}, {"a", "2"}})).find("duplicate entry name 'a'"), std::string::npos);
  EXPECT_NE(error_of("PK\x03\x04 short").find("too small"), std::string::npos);
}

TEST(ZipArchive, EveryTruncationIsAnInputError) {
  for (bool zip64 : {false, true}) {
    const std::string file = build_zip(kItems, zip64);
    for (std::size_t n = 0; n < file.size(); ++n) {
      EXPECT_THROW(ct::io::ZipArchive(bytes(file.substr(0, n)), "t.zip"), ct::InputError) << n;
    }
  }
}

// Flipping any byte either still parses (payload bytes) or throws InputError; under the sanitizer
// build this also shows that no corruption reads outside the input.
TEST(ZipArchive, SingleByteCorruptionsNeverCrash) {
  for (bool zip64 : {false, true}) {
    const std::string file = build_zip({{"a/data.pkl", std::string(300, 'p'), true}, {"a/data/0", "0123"}}, zip64);
    int rejected = 0;
    for (std::size_t i = 0; i < file.size(); ++i) {
      for (unsigned char x : {0x01, 0x80, 0xFF}) {
        std::string bad = file;
        bad[i] = static_cast<char>(bad[i] ^ x);
        if (error_of(bad) != "(no error)") ++rejected;
      }
    }
    EXPECT_GT(rejected, static_cast<int>(file.size()));  // most flips hit checked structure
  }
}
