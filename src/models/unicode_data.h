// Unicode properties for text normalisation (the BERT BasicTokenizer): character classes,
// lower-casing and canonical decomposition, plus UTF-8 <-> code point conversion.
//
// The data is generated from Python's unicodedata (Unicode 14.0 on Debian 12) by
// tools/gen_unicode_tables.py into unicode_tables.cpp, so the classes agree with what the
// Python reference tokenizers see. Lookups are binary searches over constant tables.
//
// Ownership: nothing is allocated except the returned strings/vectors. Thread-safety: pure
// functions over immutable tables. Failure: utf8_to_code_points throws InputError(where, ...) on
// malformed UTF-8; every other function is total.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ct::models {

// Property bits of one code point (see gen_unicode_tables.py).
enum UnicodeProperty : std::uint8_t {
  kPropControl = 1,       // general category C* (Cc, Cf, Cn, Co, Cs)
  kPropSpaceSeparator = 2,  // Zs
  kPropPunctuation = 4,   // P*, or ASCII 33-47, 58-64, 91-96, 123-126 (BERT's rule)
  kPropNonspacingMark = 8,  // Mn
  kPropCased = 16,        // cased and not case-ignorable (for the final-sigma rule)
  kPropCaseIgnorable = 32,
};

std::uint8_t unicode_properties(char32_t cp);

// BERT's notions (tokenization_bert semantics): whitespace is ' ', \t, \n, \r or Zs; control is
// C* except \t, \n, \r; CJK is the fixed list of CJK Unified Ideograph blocks BERT splits out.
bool is_bert_whitespace(char32_t cp);
bool is_bert_control(char32_t cp);
bool is_bert_punctuation(char32_t cp);
bool is_cjk_ideograph(char32_t cp);

// Python's str.lower() over a whole string, including U+0130 -> "i\u0307" and the final-sigma
// rule for U+03A3. [n] -> [m], m >= n.
std::u32string to_lower(std::u32string_view text);

// Appends the canonical decomposition (NFD of the single code point, Hangul included) of `cp`
// to `out`; appends cp itself when it has none. Canonical reordering is not applied: callers
// here drop the combining marks it would reorder.
void append_canonical_decomposition(char32_t cp, std::u32string& out);

// UTF-8 <-> UTF-32. `where` names the source in the InputError for malformed input
// (overlong forms, surrogates, truncated sequences and code points above U+10FFFF are rejected).
std::u32string utf8_to_code_points(std::string_view utf8, const std::string& where);
std::string code_points_to_utf8(std::u32string_view text);
void append_utf8(char32_t cp, std::string& out);

// The Unicode version of the generated tables ("14.0.0").
const char* unicode_data_version();

namespace unicode_tables {
struct PropertyRange {
  char32_t first;
  char32_t last;
  std::uint8_t bits;
};
struct CodePointPair {
  char32_t from;
  char32_t to;
};
struct DecompEntry {
  char32_t cp;
  std::uint32_t offset;  // into kDecompData
  std::uint32_t length;
};
extern const char kUnicodeVersion[];
extern const PropertyRange kPropertyRanges[];
extern const std::size_t kPropertyRangeCount;
extern const CodePointPair kLowerMap[];
extern const std::size_t kLowerMapCount;
extern const DecompEntry kDecompIndex[];
extern const std::size_t kDecompCount;
extern const char32_t kDecompData[];
}  // namespace unicode_tables

}  // namespace ct::models
