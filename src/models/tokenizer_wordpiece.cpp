// BERT WordPiece: see the header for the rules. Text is processed as UTF-32 so that every rule
// works on code points, as the Python original does.
#include "models/tokenizer_wordpiece.h"

#include <fstream>
#include <iterator>

#include "core/error.h"
#include "io/json_file.h"
#include "models/unicode_data.h"

namespace ct::models {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kContinuation = "##";

// Python's str.split() also splits on U+2028/U+2029, which clean_text keeps (they are Zl/Zp).
bool splits_words(char32_t cp) { return is_bert_whitespace(cp) || cp == 0x2028 || cp == 0x2029; }

// Steps 1 and 2: clean and space out CJK ideographs.
std::u32string clean_text(std::u32string_view text, bool split_cjk) {
  std::u32string out;
  out.reserve(text.size());
  for (char32_t cp : text) {
    if (cp == 0 || cp == 0xFFFD || is_bert_control(cp)) continue;
    if (is_bert_whitespace(cp)) {
      out.push_back(U' ');
    } else if (split_cjk && is_cjk_ideograph(cp)) {
      out.push_back(U' ');
      out.push_back(cp);
      out.push_back(U' ');
    } else {
      out.push_back(cp);
    }
  }
  return out;
}

std::u32string strip_accents(std::u32string_view word) {
  std::u32string nfd;
  nfd.reserve(word.size());
  for (char32_t cp : word) append_canonical_decomposition(cp, nfd);
  std::u32string out;
  out.reserve(nfd.size());
  for (char32_t cp : nfd) {
    if (!(unicode_properties(cp) & kPropNonspacingMark)) out.push_back(cp);
  }
  return out;
}

std::vector<std::u32string> basic_words(std::u32string_view text, const WordPieceOptions& opt) {
  const std::u32string cleaned = clean_text(text, opt.split_cjk);
  std::vector<std::u32string> out;
  std::size_t i = 0;
  while (i < cleaned.size()) {
    while (i < cleaned.size() && splits_words(cleaned[i])) ++i;
    std::size_t j = i;
    while (j < cleaned.size() && !splits_words(cleaned[j])) ++j;
    if (j == i) break;
    std::u32string word = cleaned.substr(i, j - i);
    i = j;
    if (opt.lower_case) word = to_lower(word);
    if (opt.strip_accents) word = strip_accents(word);
    std::u32string current;
    for (char32_t cp : word) {
      if (is_bert_punctuation(cp)) {
        if (!current.empty()) out.push_back(std::move(current));
        current.clear();
        out.push_back(std::u32string(1, cp));
      } else {
        current.push_back(cp);
      }
    }
    if (!current.empty()) out.push_back(std::move(current));
  }
  return out;
}

std::int32_t required_id(const std::unordered_map<std::string, std::int32_t>& vocab, const char* token,
                         const fs::path& file) {
  const auto it = vocab.find(token);
  if (it == vocab.end()) {
    throw InputError(file.string(), std::string("WordPiece vocab has no ") + token + " token");
  }
  return it->second;
}

}  // namespace

WordPieceTokenizer WordPieceTokenizer::load(const fs::path& vocab_txt, WordPieceOptions options) {
  std::ifstream in(vocab_txt, std::ios::binary);
  if (!in) {
    throw InputError(vocab_txt.string(),
                     "cannot open the WordPiece vocab (expected vocab.txt, one token per line)");
  }
  const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  WordPieceTokenizer t;
  t.options_ = options;
  std::size_t start = 0;
  while (start < bytes.size()) {
    std::size_t end = bytes.find('\n', start);
    if (end == std::string::npos) end = bytes.size();
    std::string token = bytes.substr(start, end - start);
    utf8_to_code_points(token, vocab_txt.string());  // validates
    t.token_to_id_[token] = static_cast<std::int32_t>(t.id_to_token_.size());  // last one wins, as HF
    t.id_to_token_.push_back(std::move(token));
    start = end + 1;
  }
  if (t.id_to_token_.empty()) throw InputError(vocab_txt.string(), "WordPiece vocab is empty");
  t.pad_id_ = required_id(t.token_to_id_, "[PAD]", vocab_txt);
  t.unk_id_ = required_id(t.token_to_id_, "[UNK]", vocab_txt);
  t.cls_id_ = required_id(t.token_to_id_, "[CLS]", vocab_txt);
  t.sep_id_ = required_id(t.token_to_id_, "[SEP]", vocab_txt);
  t.mask_id_ = t.token_to_id("[MASK]");
  return t;
}

WordPieceTokenizer WordPieceTokenizer::load_dir(const fs::path& dir) {
  WordPieceOptions opt;
  const fs::path config = dir / "tokenizer_config.json";
  if (fs::exists(config)) {
    const nlohmann::json j = io::read_json_file(config);
    auto flag = [&](const char* key, bool fallback) {
      const auto it = j.find(key);
      if (it == j.end() || it->is_null()) return fallback;
      if (!it->is_boolean()) throw InputError(config.string(), std::string(key) + " must be true or false");
      return it->get<bool>();
    };
    opt.lower_case = flag("do_lower_case", true);
    opt.strip_accents = flag("strip_accents", opt.lower_case);
    opt.split_cjk = flag("tokenize_chinese_chars", true);
  }
  const fs::path vocab = dir / "vocab.txt";
  if (!fs::exists(vocab)) {
    throw InputError(dir.string(), "no vocab.txt in the BERT tokenizer directory; copy the checkpoint's vocab.txt there");
  }
  return load(vocab, opt);
}

void WordPieceTokenizer::wordpiece(const std::u32string& word, std::vector<std::string>& out) const {
  if (static_cast<int>(word.size()) > options_.max_chars_per_word) {
    out.push_back(id_to_token_[unk_id_]);
    return;
  }
  std::vector<std::string> pieces;
  std::size_t start = 0;
  while (start < word.size()) {
    std::size_t end = word.size();
    std::string found;
    while (end > start) {
      std::string candidate = start > 0 ? std::string(kContinuation) : std::string();
      candidate += code_points_to_utf8(std::u32string_view(word).substr(start, end - start));
      if (token_to_id_.count(candidate)) {
        found = std::move(candidate);
        break;
      }
      --end;
    }
    if (end == start) {  // no piece covers word[start]: the whole word is unknown
      out.push_back(id_to_token_[unk_id_]);
      return;
    }
    pieces.push_back(std::move(found));
    start = end;
  }
  for (auto& p : pieces) out.push_back(std::move(p));
}

std::vector<std::string> WordPieceTokenizer::basic_tokenize(std::string_view text) const {
  std::vector<std::string> out;
  for (const auto& w : basic_words(utf8_to_code_points(text, "text"), options_)) out.push_back(code_points_to_utf8(w));
  return out;
}

std::vector<std::string> WordPieceTokenizer::tokenize(std::string_view text) const {
  std::vector<std::string> out;
  for (const auto& w : basic_words(utf8_to_code_points(text, "text"), options_)) wordpiece(w, out);
  return out;
}

std::vector<std::int32_t> WordPieceTokenizer::encode_pieces(std::string_view text) const {
  std::vector<std::int32_t> ids;
  for (const auto& piece : tokenize(text)) {
    const std::int32_t id = token_to_id(piece);
    CT_CHECK(id >= 0, "wordpiece produced a token outside the vocab");
    ids.push_back(id);
  }
  return ids;
}

WordPieceEncoding WordPieceTokenizer::encode(std::string_view text, int max_length, bool pad_to_max_length) const {
  if (max_length != 0 && max_length < 2) {
    throw InputError("max_length", "must be 0 (no limit) or at least 2 for [CLS] and [SEP], got " +
                                       std::to_string(max_length));
  }
  if (pad_to_max_length && max_length == 0) throw InputError("max_length", "padding needs a max_length");
  std::vector<std::int32_t> pieces = encode_pieces(text);
  if (max_length > 0 && pieces.size() > static_cast<std::size_t>(max_length - 2)) pieces.resize(max_length - 2);
  WordPieceEncoding e;
  e.ids.push_back(cls_id_);
  e.ids.insert(e.ids.end(), pieces.begin(), pieces.end());
  e.ids.push_back(sep_id_);
  e.attention_mask.assign(e.ids.size(), 1);
  if (pad_to_max_length) {
    e.ids.resize(max_length, pad_id_);
    e.attention_mask.resize(max_length, 0);
  }
  return e;
}

std::string WordPieceTokenizer::decode(const std::vector<std::int32_t>& ids, bool skip_special,
                                       bool clean_up_spaces) const {
  std::string joined;
  for (std::int32_t id : ids) {
    const bool special = id == pad_id_ || id == unk_id_ || id == cls_id_ || id == sep_id_ || id == mask_id_ ||
                         id < 0 || static_cast<std::size_t>(id) >= id_to_token_.size();
    if (skip_special && special) continue;
    const std::string& tok = id_to_token(id);
    if (tok.compare(0, kContinuation.size(), kContinuation) == 0 && !joined.empty()) {
      joined += tok.substr(kContinuation.size());  // " ##x" -> "x"
    } else {
      if (!joined.empty()) joined.push_back(' ');
      joined += tok;
    }
  }
  if (!clean_up_spaces) return joined;
  static constexpr std::pair<std::string_view, std::string_view> kCleanups[] = {
      {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
      {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : kCleanups) {  // sequential str.replace calls, as HF does
    std::string next;
    std::size_t pos = 0;
    while (true) {
      const std::size_t hit = joined.find(from, pos);
      if (hit == std::string::npos) break;
      next.append(joined, pos, hit - pos);
      next += to;
      pos = hit + from.size();
    }
    next.append(joined, pos, std::string::npos);
    joined = std::move(next);
  }
  return joined;
}

std::int32_t WordPieceTokenizer::token_to_id(std::string_view token) const {
  const auto it = token_to_id_.find(std::string(token));
  return it == token_to_id_.end() ? -1 : it->second;
}

const std::string& WordPieceTokenizer::id_to_token(std::int32_t id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= id_to_token_.size()) return id_to_token_[unk_id_];
  return id_to_token_[id];
}

}  // namespace ct::models
