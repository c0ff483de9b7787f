// ZipArchive implementation (see io/zip_archive.h). All reads go through rd16/32/64 after a
// fits() bounds check; sizes and offsets are uint64 and compared without overflowing additions.
#include "io/zip_archive.h"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <limits>

#include "core/error.h"

namespace ct::io {
namespace {

constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEocdSig = 0x06054b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr uint32_t kZip64EocdSig = 0x06064b50;
constexpr uint64_t kEocdSize = 22;
constexpr uint64_t kZip64LocatorSize = 20;
constexpr uint64_t kZip64EocdSize = 56;
constexpr uint64_t kCentralSize = 46;
constexpr uint64_t kLocalSize = 30;
constexpr uint64_t kMaxCommentLength = 0xFFFF;
constexpr uint16_t kZip64ExtraId = 0x0001;
constexpr uint32_t kSentinel32 = 0xFFFFFFFF;
constexpr uint16_t kSentinel16 = 0xFFFF;
// Deflate cannot expand data by more than about 1032:1; a larger claim is a lie (or a bomb).
constexpr uint64_t kMaxDeflateRatio = 1032;

uint16_t rd16(std::span<const std::byte> b, uint64_t off) {
  return static_cast<uint16_t>(std::to_integer<uint16_t>(b[off]) | (std::to_integer<uint16_t>(b[off + 1]) << 8));
}
uint32_t rd32(std::span<const std::byte> b, uint64_t off) {
  return static_cast<uint32_t>(rd16(b, off)) | (static_cast<uint32_t>(rd16(b, off + 2)) << 16);
}
uint64_t rd64(std::span<const std::byte> b, uint64_t off) {
  return static_cast<uint64_t>(rd32(b, off)) | (static_cast<uint64_t>(rd32(b, off + 4)) << 32);
}

// True when [off, off + len) lies inside [0, size), without overflow.
bool fits(uint64_t off, uint64_t len, uint64_t size) { return off <= size && len <= size - off; }

std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 200)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

// The values a ZIP64 extra field may override (only those whose 32-bit field is the sentinel).
struct Zip64Fields {
  uint64_t* uncompressed = nullptr;
  uint64_t* compressed = nullptr;
  uint64_t* offset = nullptr;
  bool disk = false;
};

// Walks the extra fields in `extra`; fills the requested ZIP64 values. Returns false when a
// requested value is missing; throws through `fail` on a malformed extra block.
template <typename Fail>
bool read_zip64_extra(std::span<const std::byte> extra, Zip64Fields want, Fail&& fail) {
  uint64_t pos = 0;
  bool found = false;
  while (pos < extra.size()) {
    if (!fits(pos, 4, extra.size())) fail("truncated extra field");
    const uint16_t id = rd16(extra, pos);
    const uint16_t len = rd16(extra, pos + 2);
    if (!fits(pos + 4, len, extra.size())) fail("extra field runs past its block");
    if (id == kZip64ExtraId && !found) {
      found = true;
      uint64_t p = pos + 4;
      const uint64_t end = p + len;
      for (uint64_t* v : {want.uncompressed, want.compressed, want.offset}) {
        if (!v) continue;
        if (!fits(p, 8, end)) return false;
        *v = rd64(extra, p);
        p += 8;
      }
      if (want.disk && !fits(p, 4, end)) return false;
    }
    pos += 4 + static_cast<uint64_t>(len);
  }
  return found || (!want.uncompressed && !want.compressed && !want.offset && !want.disk);
}

}  // namespace

bool looks_like_zip(std::span<const std::byte> file) {
  if (file.size() < 4) return false;
  const uint32_t sig = rd32(file, 0);
  return sig == kLocalSig || sig == kEocdSig;
}

ZipArchive::ZipArchive(std::span<const std::byte> file, std::string file_name)
    : file_(file), file_name_(std::move(file_name)) {
  parse();
}

void ZipArchive::fail(const std::string& problem) const { throw InputError(file_name_, "zip: " + problem); }

const ZipEntry* ZipArchive::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

void ZipArchive::parse() {
  const uint64_t size = file_.size();
  if (size < kEocdSize) fail("file of " + std::to_string(size) + " bytes is too small for a zip archive (no end-of-central-directory record)");

  // The EOCD record is the last 22 bytes plus a comment of up to 65535 bytes: scan back at most
  // that far, and accept a signature only when its comment length reaches exactly the file end.
  uint64_t eocd = UINT64_MAX;
  const uint64_t last = size - kEocdSize;
  const uint64_t lowest = last > kMaxCommentLength ? last - kMaxCommentLength : 0;
  for (uint64_t pos = last;; --pos) {
    if (rd32(file_, pos) == kEocdSig && pos + kEocdSize + rd16(file_, pos + 20) == size) {
      eocd = pos;
      break;
    }
    if (pos == lowest) break;
  }
  if (eocd == UINT64_MAX) fail("no end-of-central-directory record (truncated or not a zip file)");

  uint64_t disk = rd16(file_, eocd + 4), cd_disk = rd16(file_, eocd + 6);
  uint64_t entries_on_disk = rd16(file_, eocd + 8), total_entries = rd16(file_, eocd + 10);
  uint64_t cd_size = rd32(file_, eocd + 12), cd_offset = rd32(file_, eocd + 16);
  uint64_t directory_end = eocd;  // the central directory must end before this

  if (eocd >= kZip64LocatorSize && rd32(file_, eocd - kZip64LocatorSize) == kZip64LocatorSig) {
    const uint64_t loc = eocd - kZip64LocatorSize;
    const uint32_t z64_disk = rd32(file_, loc + 4);
    const uint64_t z64_offset = rd64(file_, loc + 8);
    const uint32_t disks = rd32(file_, loc + 16);
    if (z64_disk != 0 || disks > 1) fail("multi-disk archives are not supported");
    if (!fits(z64_offset, kZip64EocdSize, loc)) fail("ZIP64 end-of-central-directory offset " + std::to_string(z64_offset) + " is outside the file");
    if (rd32(file_, z64_offset) != kZip64EocdSig) fail("bad ZIP64 end-of-central-directory signature");
    // A 32-bit field that is not the sentinel must agree with its ZIP64 twin.
    const auto merge = [&](uint64_t& field, uint64_t sentinel, uint64_t wide, const char* what) {
      if (field != sentinel && field != wide) {
        fail(std::string("end-of-central-directory record and ZIP64 record disagree on the central directory ") + what +
             " (" + std::to_string(field) + " vs " + std::to_string(wide) + ")");
      }
      field = wide;
    };
    merge(disk, kSentinel16, rd32(file_, z64_offset + 16), "disk");
    merge(cd_disk, kSentinel16, rd32(file_, z64_offset + 20), "start disk");
    merge(entries_on_disk, kSentinel16, rd64(file_, z64_offset + 24), "entry count on this disk");
    merge(total_entries, kSentinel16, rd64(file_, z64_offset + 32), "entry count");
    merge(cd_size, kSentinel32, rd64(file_, z64_offset + 40), "size");
    merge(cd_offset, kSentinel32, rd64(file_, z64_offset + 48), "offset");
    directory_end = z64_offset;
  } else if (cd_offset == kSentinel32 || cd_size == kSentinel32) {
    fail("end-of-central-directory record needs ZIP64 values but there is no ZIP64 locator");
  }
  if (disk != 0 || cd_disk != 0 || entries_on_disk != total_entries) fail("multi-disk archives are not supported");
  if (!fits(cd_offset, cd_size, directory_end)) {
    fail("central directory [" + std::to_string(cd_offset) + ", +" + std::to_string(cd_size) +
         ") is outside the file (directory must end by offset " + std::to_string(directory_end) + ")");
  }
  // Each entry takes at least 46 bytes: this caps the count by the input size.
  if (total_entries > cd_size / kCentralSize) {
    fail("central directory of " + std::to_string(cd_size) + " bytes cannot hold " + std::to_string(total_entries) + " entries");
  }

  const uint64_t cd_end = cd_offset + cd_size;
  entries_.reserve(static_cast<std::size_t>(total_entries));
  uint64_t pos = cd_offset;
  for (uint64_t i = 0; i < total_entries; ++i) {
    const std::string which = "central directory entry " + std::to_string(i);
    if (!fits(pos, kCentralSize, cd_end)) fail(which + " runs past the central directory");
    if (rd32(file_, pos) != kCentralSig) fail(which + " has a bad signature");
    ZipEntry e;
    e.flags = rd16(file_, pos + 8);
    e.method = rd16(file_, pos + 10);
    e.crc32 = rd32(file_, pos + 16);
    const uint32_t csize32 = rd32(file_, pos + 20), usize32 = rd32(file_, pos + 24);
    const uint64_t name_len = rd16(file_, pos + 28), extra_len = rd16(file_, pos + 30), comment_len = rd16(file_, pos + 32);
    const uint16_t disk_start = rd16(file_, pos + 34);
    const uint32_t offset32 = rd32(file_, pos + 42);
    const uint64_t var_len = name_len + extra_len + comment_len;
    if (!fits(pos + kCentralSize, var_len, cd_end)) fail(which + " has a name or extra field past the central directory");
    e.name.assign(reinterpret_cast<const char*>(file_.data() + pos + kCentralSize), name_len);
    e.compressed_size = csize32;
    e.uncompressed_size = usize32;
    e.local_header_offset = offset32;
    Zip64Fields want;
    if (usize32 == kSentinel32) want.uncompressed = &e.uncompressed_size;
    if (csize32 == kSentinel32) want.compressed = &e.compressed_size;
    if (offset32 == kSentinel32) want.offset = &e.local_header_offset;
    want.disk = disk_start == kSentinel16;
    const auto extra = file_.subspan(pos + kCentralSize + name_len, extra_len);
    const auto extra_fail = [&](const std::string& p) { fail(which + " ('" + printable(e.name) + "'): " + p); };
    if (!read_zip64_extra(extra, want, extra_fail)) extra_fail("ZIP64 sizes or offset are missing from its extra field");
    if (disk_start != 0 && disk_start != kSentinel16) extra_fail("multi-disk archives are not supported");
    if (e.flags & 0x0041) extra_fail("encrypted entries are not supported");
    if (e.method != 0 && e.method != 8) extra_fail("unsupported compression method " + std::to_string(e.method) + " (expected 0 stored or 8 deflate)");
    if (e.method == 0 && e.compressed_size != e.uncompressed_size) extra_fail("stored entry has compressed size != uncompressed size");
    if (e.name.empty()) extra_fail("empty entry name");
    if (!index_.emplace(e.name, entries_.size()).second) fail("duplicate entry name '" + printable(e.name) + "'");
    entries_.push_back(std::move(e));
    pos += kCentralSize + var_len;
  }
  if (pos != cd_end) fail("central directory size " + std::to_string(cd_size) + " does not match its " + std::to_string(total_entries) + " entries");

  // Cross-check each local header: same name, method and sizes; data before the directory.
  for (ZipEntry& e : entries_) {
    const std::string which = "entry '" + printable(e.name) + "'";
    const uint64_t lh = e.local_header_offset;
    if (!fits(lh, kLocalSize, cd_offset)) fail(which + ": local header offset " + std::to_string(lh) + " is outside the data area");
    if (rd32(file_, lh) != kLocalSig) fail(which + ": bad local header signature at offset " + std::to_string(lh));
    const uint16_t flags = rd16(file_, lh + 6), method = rd16(file_, lh + 8);
    const uint32_t crc = rd32(file_, lh + 14), csize32 = rd32(file_, lh + 18), usize32 = rd32(file_, lh + 22);
    const uint64_t name_len = rd16(file_, lh + 26), extra_len = rd16(file_, lh + 28);
    if (!fits(lh + kLocalSize, name_len + extra_len, cd_offset)) fail(which + ": local header runs into the central directory");
    const std::string_view local_name(reinterpret_cast<const char*>(file_.data() + lh + kLocalSize), name_len);
    if (local_name != e.name) fail(which + ": local header names '" + printable(local_name) + "'");
    if (method != e.method) fail(which + ": local header method " + std::to_string(method) + " differs from the central directory's " + std::to_string(e.method));
    // With a data descriptor (flag bit 3) the local fields may be zero; otherwise, or when they
    // are filled in anyway, they must match the central directory.
    const bool descriptor = (flags & 0x0008) != 0;
    if (!descriptor || csize32 != 0 || usize32 != 0 || crc != 0) {
      uint64_t csize = csize32, usize = usize32;
      Zip64Fields want;
      if (usize32 == kSentinel32) want.uncompressed = &usize;
      if (csize32 == kSentinel32) want.compressed = &csize;
      const auto extra = file_.subspan(lh + kLocalSize + name_len, extra_len);
      const auto extra_fail = [&](const std::string& p) { fail(which + ": local header: " + p); };
      if (!read_zip64_extra(extra, want, extra_fail)) extra_fail("ZIP64 sizes are missing from its extra field");
      if (csize != e.compressed_size || usize != e.uncompressed_size || crc != e.crc32) {
        fail(which + ": local header (sizes " + std::to_string(csize) + "/" + std::to_string(usize) + ", CRC " + std::to_string(crc) +
             ") differs from the central directory (sizes " + std::to_string(e.compressed_size) + "/" +
             std::to_string(e.uncompressed_size) + ", CRC " + std::to_string(e.crc32) + ")");
      }
    }
    e.data_offset = lh + kLocalSize + name_len + extra_len;
    if (!fits(e.data_offset, e.compressed_size, cd_offset)) {
      fail(which + ": data [" + std::to_string(e.data_offset) + ", +" + std::to_string(e.compressed_size) + ") runs past the data area");
    }
  }
}

ZipContents ZipArchive::read(const ZipEntry& entry, uint64_t max_size, bool check_crc) const {
  const std::string which = "entry '" + printable(entry.name) + "'";
  if (entry.uncompressed_size > max_size) {
    fail(which + " is " + std::to_string(entry.uncompressed_size) + " bytes, more than the limit of " + std::to_string(max_size));
  }
  const auto raw = file_.subspan(entry.data_offset, entry.compressed_size);
  ZipContents out;
  if (entry.method == 0) {
    out.bytes = raw;
    if (check_crc) {
      const auto crc = ::crc32_z(0, reinterpret_cast<const Bytef*>(raw.data()), raw.size());
      if (crc != entry.crc32) fail(which + ": CRC-32 mismatch");
    }
    return out;
  }
  if (entry.uncompressed_size / kMaxDeflateRatio > entry.compressed_size) {
    fail(which + ": " + std::to_string(entry.compressed_size) + " deflated bytes cannot hold " + std::to_string(entry.uncompressed_size));
  }
  // One spare byte: output beyond the declared size lands there and is detected.
  auto buffer = std::make_shared<std::vector<std::byte>>(static_cast<std::size_t>(entry.uncompressed_size) + 1);
  z_stream zs{};
  if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) throw RuntimeFailure("zlib inflateInit2 failed");
  uint64_t in_done = 0, out_done = 0;
  int ret = Z_OK;
  while (ret == Z_OK) {
    const uint64_t in_left = raw.size() - in_done, out_left = buffer->size() - out_done;
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(raw.data() + in_done));
    zs.avail_in = static_cast<uInt>(std::min<uint64_t>(in_left, UINT_MAX));
    zs.next_out = reinterpret_cast<Bytef*>(buffer->data() + out_done);
    zs.avail_out = static_cast<uInt>(std::min<uint64_t>(out_left, UINT_MAX));
    const uInt in_before = zs.avail_in, out_before = zs.avail_out;
    ret = inflate(&zs, Z_NO_FLUSH);
    in_done += in_before - zs.avail_in;
    out_done += out_before - zs.avail_out;
    if (ret == Z_BUF_ERROR || (ret == Z_OK && in_before == zs.avail_in && out_before == zs.avail_out)) break;
  }
  inflateEnd(&zs);
  if (ret != Z_STREAM_END) fail(which + ": corrupt or truncated deflate data");
  if (out_done != entry.uncompressed_size) {
    fail(which + ": inflates to a size other than the declared " + std::to_string(entry.uncompressed_size) + " bytes");
  }
  buffer->resize(static_cast<std::size_t>(entry.uncompressed_size));
  if (::crc32_z(0, reinterpret_cast<const Bytef*>(buffer->data()), buffer->size()) != entry.crc32) fail(which + ": CRC-32 mismatch");
  out.bytes = std::span<const std::byte>(buffer->data(), buffer->size());
  out.owned = std::move(buffer);
  return out;
}

}  // namespace ct::io
