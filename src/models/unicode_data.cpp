// Lookups over the generated tables in unicode_tables.cpp, and UTF-8 conversion.
#include "models/unicode_data.h"

#include <algorithm>

#include "core/error.h"

namespace ct::models {
namespace {

namespace ut = unicode_tables;

// Hangul syllable decomposition constants (Unicode chapter 3.12).
constexpr char32_t kHangulSBase = 0xAC00, kHangulLBase = 0x1100, kHangulVBase = 0x1161,
                   kHangulTBase = 0x11A7;
constexpr char32_t kHangulTCount = 28, kHangulNCount = 588, kHangulSCount = 11172;

constexpr char32_t kCapitalSigma = 0x03A3, kSmallSigma = 0x03C3, kFinalSigma = 0x03C2;

char32_t lower_one(char32_t cp) {
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  const auto* end = ut::kLowerMap + ut::kLowerMapCount;
  const auto* it = std::lower_bound(ut::kLowerMap, end, cp,
                                    [](const ut::CodePointPair& p, char32_t c) { return p.from < c; });
  return (it != end && it->from == cp) ? it->to : cp;
}

// Python's Final_Sigma context: cased (ignorables skipped) before, no cased (ignorables
// skipped) after.
bool is_final_sigma(std::u32string_view text, std::size_t i) {
  std::size_t j = i;
  bool cased_before = false;
  while (j > 0) {
    const std::uint8_t p = unicode_properties(text[--j]);
    if (p & kPropCaseIgnorable) continue;
    cased_before = (p & kPropCased) != 0;
    break;
  }
  if (!cased_before) return false;
  for (std::size_t k = i + 1; k < text.size(); ++k) {
    const std::uint8_t p = unicode_properties(text[k]);
    if (p & kPropCaseIgnorable) continue;
    return (p & kPropCased) == 0;
  }
  return true;
}

}  // namespace

std::uint8_t unicode_properties(char32_t cp) {
  const auto* end = ut::kPropertyRanges + ut::kPropertyRangeCount;
  const auto* it = std::upper_bound(ut::kPropertyRanges, end, cp,
                                    [](char32_t c, const ut::PropertyRange& r) { return c < r.first; });
  if (it == ut::kPropertyRanges) return 0;
  --it;
  return cp <= it->last ? it->bits : 0;
}

bool is_bert_whitespace(char32_t cp) {
  if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r') return true;
  return (unicode_properties(cp) & kPropSpaceSeparator) != 0;
}

bool is_bert_control(char32_t cp) {
  if (cp == '\t' || cp == '\n' || cp == '\r') return false;
  return (unicode_properties(cp) & kPropControl) != 0;
}

bool is_bert_punctuation(char32_t cp) { return (unicode_properties(cp) & kPropPunctuation) != 0; }

bool is_cjk_ideograph(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
         (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

std::u32string to_lower(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char32_t cp = text[i];
    if (cp == 0x0130) {  // LATIN CAPITAL LETTER I WITH DOT ABOVE -> i + COMBINING DOT ABOVE
      out.push_back(U'i');
      out.push_back(0x0307);
    } else if (cp == kCapitalSigma) {
      out.push_back(is_final_sigma(text, i) ? kFinalSigma : kSmallSigma);
    } else {
      out.push_back(lower_one(cp));
    }
  }
  return out;
}

void append_canonical_decomposition(char32_t cp, std::u32string& out) {
  if (cp >= kHangulSBase && cp < kHangulSBase + kHangulSCount) {
    const char32_t s = cp - kHangulSBase;
    out.push_back(kHangulLBase + s / kHangulNCount);
    out.push_back(kHangulVBase + (s % kHangulNCount) / kHangulTCount);
    if (s % kHangulTCount != 0) out.push_back(kHangulTBase + s % kHangulTCount);
    return;
  }
  if (cp < 0xC0) {  // nothing below U+00C0 decomposes
    out.push_back(cp);
    return;
  }
  const auto* end = ut::kDecompIndex + ut::kDecompCount;
  const auto* it = std::lower_bound(ut::kDecompIndex, end, cp,
                                    [](const ut::DecompEntry& e, char32_t c) { return e.cp < c; });
  if (it == end || it->cp != cp) {
    out.push_back(cp);
    return;
  }
  out.append(ut::kDecompData + it->offset, it->length);
}

std::u32string utf8_to_code_points(std::string_view s, const std::string& where) {
  std::u32string out;
  out.reserve(s.size());
  std::size_t i = 0;
  auto bad = [&](const char* what) {
    throw InputError(where, std::string("malformed UTF-8 (") + what + ") at byte " + std::to_string(i));
  };
  while (i < s.size()) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) {
      out.push_back(b0);
      ++i;
      continue;
    }
    int n = 0;
    char32_t cp = 0, min = 0;
    if ((b0 & 0xE0) == 0xC0) { n = 1; cp = b0 & 0x1F; min = 0x80; }
    else if ((b0 & 0xF0) == 0xE0) { n = 2; cp = b0 & 0x0F; min = 0x800; }
    else if ((b0 & 0xF8) == 0xF0) { n = 3; cp = b0 & 0x07; min = 0x10000; }
    else bad("invalid lead byte");
    for (int k = 1; k <= n; ++k) {
      if (i + k >= s.size()) bad("truncated sequence");
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) bad("invalid continuation byte");
      cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min) bad("overlong form");
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) bad("invalid code point");
    out.push_back(cp);
    i += n + 1;
  }
  return out;
}

void append_utf8(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string code_points_to_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t cp : text) append_utf8(cp, out);
  return out;
}

const char* unicode_data_version() { return ut::kUnicodeVersion; }

}  // namespace ct::models
