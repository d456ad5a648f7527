// Text layout for a terminal: the display width of UTF-8 text (Hangul and CJK take two
// columns, combining marks none), cells truncated to a width with an ellipsis, and
// aligned tables built on both, so Korean names line up with ASCII ones.
#ifndef SANHAK_TOOLS_SANHAKCTL_DISPLAY_H_
#define SANHAK_TOOLS_SANHAKCTL_DISPLAY_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace sanhak::ctl {

// Appends code point `c` to `out` as UTF-8.
void AppendUtf8(char32_t c, std::string& out);

// Columns one code point occupies: 2 for East Asian Wide and Fullwidth (Hangul Jamo and
// syllables, CJK ideographs and punctuation, fullwidth forms), 0 for combining marks and
// zero-width characters, 1 otherwise.
int CodePointWidth(char32_t c);

// Decodes UTF-8; malformed bytes become U+FFFD, one per byte.
std::vector<char32_t> DecodeUtf8(absl::string_view text);

// Columns `text` occupies on a terminal (tabs and newlines count as one column).
int DisplayWidth(absl::string_view text);

// `text` cut to at most `width` columns, ending in "…" when cut; never splits a code
// point, and drops a wide character that would straddle the limit.
std::string TruncateToWidth(absl::string_view text, int width);

// `text` padded with spaces to `width` columns (left-aligned), or right-aligned.
std::string PadToWidth(absl::string_view text, int width, bool right_align = false);

// A table of text cells rendered with columns aligned by display width.
class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

  void AddRow(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  // Right-aligns column `column` (numbers).
  void AlignRight(size_t column);
  // Never cuts column `column` (resource names must stay usable as arguments).
  void KeepWhole(size_t column);
  // Cuts cells of every column to at most `width` columns (0 = no limit). The last
  // column is never padded, so long text there costs no trailing spaces.
  void set_max_cell_width(int width) { max_cell_width_ = width; }
  // Whether Render starts with the header row (kubectl's --no-headers turns it off for
  // every table a command prints). Process-wide: a command prints its tables under one
  // setting.
  static void SetShowHeaders(bool show);
  // The width every table fits into (a terminal's columns): its widest columns are cut
  // with … (never one kept whole), and when that is not enough its rightmost columns are
  // left out; 0 = no limit. Process-wide, as SetShowHeaders.
  static void SetLineWidth(int columns);
  size_t size() const { return rows_.size(); }

  // The header row, then one line per row; columns separated by two spaces, trailing
  // spaces removed.
  std::string Render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
  std::vector<bool> right_;
  std::vector<bool> whole_;
  int max_cell_width_ = 0;
};

// Korea's time zone (Asia/Seoul; a fixed +09:00 where the tz database lacks it): where
// times without a zone of their own are shown.
absl::TimeZone Korea();
// "2025-07-30 09:00 KST": a time in `zone`, the zone named.
std::string TimeText(absl::Time when, absl::TimeZone zone);
// The zone's abbreviation at Unix second `at` ("KST", "WITA"; "+08" where it has none).
std::string ZoneAbbreviation(absl::TimeZone zone, int64_t at);

// Newlines and tabs in a cell become spaces, so a row stays one line.
std::string OneLine(absl::string_view text);

}  // namespace sanhak::ctl

#endif  // SANHAK_TOOLS_SANHAKCTL_DISPLAY_H_
