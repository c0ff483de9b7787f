// BERT uncased WordPiece tokenizer (bert-base-uncased, as mPLUG uses it; vlm-architectures.md 1.2
// and 2.7), with the semantics of HF's BertTokenizer (BasicTokenizer + WordpieceTokenizer):
//
// 1. clean: drop NUL, U+FFFD and control characters (C* except \t \n \r); whitespace -> ' ';
// 2. put spaces around CJK ideographs; split on whitespace;
// 3. per word: lower-case (Python str.lower()), strip accents (NFD, drop Mn), split every
//    punctuation character (P* or ASCII 33-47, 58-64, 91-96, 123-126) into its own word;
// 4. WordPiece: greedy longest match first, continuation pieces prefixed "##"; a word longer than
//    100 code points, or one that cannot be covered, becomes [UNK].
// Not done (differences from HF): the NFC pass newer transformers add before step 2 (no effect
// once accents are stripped), and keeping special-token text such as "[MASK]" in the input whole.
//
// Ownership: the tokenizer owns its vocabulary. Thread-safety: immutable after load; const
// methods may be called concurrently. Failure: load throws InputError naming the file when it is
// missing, unreadable, or lacks [PAD]/[UNK]/[CLS]/[SEP]; encode throws InputError("text", ...) on
// malformed UTF-8 and on a max_length below 2.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ct::models {

struct WordPieceOptions {
  bool lower_case = true;    // tokenizer_config.json do_lower_case
  bool strip_accents = true;  // HF: follows lower_case unless set explicitly
  bool split_cjk = true;     // tokenize_chinese_chars
  int max_chars_per_word = 100;
};

struct WordPieceEncoding {
  std::vector<std::int32_t> ids;             // [n] ([CLS] ... [SEP] then [PAD]s)
  std::vector<std::int32_t> attention_mask;  // [n] 1 for real tokens, 0 for padding
};

class WordPieceTokenizer {
 public:
  // Reads vocab.txt: one token per line, id = line number (0-based); only '\n' ends a line.
  static WordPieceTokenizer load(const std::filesystem::path& vocab_txt, WordPieceOptions options = {});
  // Reads dir/vocab.txt and, when present, dir/tokenizer_config.json (do_lower_case,
  // strip_accents, tokenize_chinese_chars).
  static WordPieceTokenizer load_dir(const std::filesystem::path& dir);

  // Steps 1-3: the BasicTokenizer words, UTF-8.
  std::vector<std::string> basic_tokenize(std::string_view text) const;
  // Steps 1-4: WordPiece tokens, UTF-8.
  std::vector<std::string> tokenize(std::string_view text) const;
  // Ids of tokenize(text), without [CLS]/[SEP].
  std::vector<std::int32_t> encode_pieces(std::string_view text) const;

  // [CLS] pieces [SEP]. max_length > 0 truncates the pieces so that the whole fits (HF
  // truncation=True); pad_to_max_length appends [PAD] up to max_length.
  WordPieceEncoding encode(std::string_view text, int max_length = 0, bool pad_to_max_length = false) const;

  // Tokens joined by spaces with " ##" glued (HF convert_tokens_to_string); skip_special drops
  // [PAD], [UNK], [CLS], [SEP], [MASK]; clean_up_spaces applies HF's
  // clean_up_tokenization (" ." -> ".", " n't" -> "n't", ...). Out-of-range ids are [UNK].
  std::string decode(const std::vector<std::int32_t>& ids, bool skip_special = true,
                     bool clean_up_spaces = true) const;

  std::int32_t token_to_id(std::string_view token) const;  // -1 when absent
  const std::string& id_to_token(std::int32_t id) const;   // [UNK] when out of range
  std::size_t vocab_size() const { return id_to_token_.size(); }
  std::int32_t pad_id() const { return pad_id_; }
  std::int32_t unk_id() const { return unk_id_; }
  std::int32_t cls_id() const { return cls_id_; }
  std::int32_t sep_id() const { return sep_id_; }
  std::int32_t mask_id() const { return mask_id_; }  // -1 when the vocab has no [MASK]
  const WordPieceOptions& options() const { return options_; }

 private:
  void wordpiece(const std::u32string& word, std::vector<std::string>& out) const;

  WordPieceOptions options_;
  std::vector<std::string> id_to_token_;                  // [vocab]
  std::unordered_map<std::string, std::int32_t> token_to_id_;
  std::int32_t pad_id_ = -1, unk_id_ = -1, cls_id_ = -1, sep_id_ = -1, mask_id_ = -1;
};

}  // namespace ct::models
