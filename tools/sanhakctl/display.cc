#include "tools/sanhakctl/display.h"

#include <algorithm>

#include "absl/strings/str_join.h"

namespace sanhak::ctl {
namespace {

bool In(char32_t c, char32_t lo, char32_t hi) { return c >= lo && c <= hi; }

}  // namespace

void AppendUtf8(char32_t c, std::string& out) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

int CodePointWidth(char32_t c) {
  if (c == 0) return 0;
  // Combining marks (general category Mn/Me in the common blocks), zero-width
  // characters, Hangul Jamo medial vowels and final consonants (they join the preceding
  // initial into one syllable cell).
  if (In(c, 0x0300, 0x036F) || In(c, 0x0483, 0x0489) || In(c, 0x0591, 0x05BD) ||
      In(c, 0x0610, 0x061A) || In(c, 0x064B, 0x065F) || In(c, 0x1AB0, 0x1AFF) ||
      In(c, 0x1DC0, 0x1DFF) || In(c, 0x200B, 0x200F) || In(c, 0x202A, 0x202E) ||
      In(c, 0x2060, 0x2064) || In(c, 0x20D0, 0x20FF) || In(c, 0xFE00, 0xFE0F) ||
      In(c, 0xFE20, 0xFE2F) || c == 0xFEFF || In(c, 0x1160, 0x11FF) ||
      In(c, 0xD7B0, 0xD7FF) || In(c, 0x302A, 0x302F) || In(c, 0x3099, 0x309A) ||
      In(c, 0xE0100, 0xE01EF)) {
    return 0;
  }
  // East Asian Wide (W) and Fullwidth (F).
  if (In(c, 0x1100, 0x115F) ||    // Hangul Jamo initial consonants
      In(c, 0x231A, 0x231B) || In(c, 0x2329, 0x232A) ||
      In(c, 0x2E80, 0x303E) ||    // CJK radicals, Kangxi, CJK symbols and punctuation
      In(c, 0x3041, 0x33FF) ||    // Hiragana, Katakana, Bopomofo, Hangul compatibility Jamo
      In(c, 0x3400, 0x4DBF) ||    // CJK extension A
      In(c, 0x4E00, 0x9FFF) ||    // CJK unified ideographs
      In(c, 0xA000, 0xA4CF) ||    // Yi
      In(c, 0xA960, 0xA97F) ||    // Hangul Jamo extended A
      In(c, 0xAC00, 0xD7A3) ||    // Hangul syllables
      In(c, 0xF900, 0xFAFF) ||    // CJK compatibility ideographs
      In(c, 0xFE10, 0xFE19) || In(c, 0xFE30, 0xFE6F) ||
      In(c, 0xFF00, 0xFF60) || In(c, 0xFFE0, 0xFFE6) ||  // fullwidth forms
      In(c, 0x1F300, 0x1F64F) || In(c, 0x1F900, 0x1F9FF) ||  // emoji presentation
      In(c, 0x20000, 0x3FFFD)) {  // CJK extensions B and later
    return 2;
  }
  return 1;
}

std::vector<char32_t> DecodeUtf8(absl::string_view text) {
  std::vector<char32_t> out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char b = static_cast<unsigned char>(text[i]);
    int extra = 0;
    char32_t c = 0;
    if (b < 0x80) {
      c = b;
    } else if ((b & 0xE0) == 0xC0) {
      extra = 1;
      c = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      extra = 2;
      c = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
      extra = 3;
      c = b & 0x07;
    } else {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    bool ok = true;
    for (int k = 1; k <= extra; ++k) {
      if (i + k >= text.size() ||
          (static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) {
        ok = false;
        break;
      }
      c = (c << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
    }
    if (!ok) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    out.push_back(c);
    i += extra + 1;
  }
  return out;
}

int DisplayWidth(absl::string_view text) {
  int width = 0;
  for (char32_t c : DecodeUtf8(text)) width += CodePointWidth(c);
  return width;
}

std::string TruncateToWidth(absl::string_view text, int width) {
  if (DisplayWidth(text) <= width) return std::string(text);
  if (width <= 0) return "";
  // Room for the ellipsis (one column).
  const int budget = width - 1;
  std::string out;
  int used = 0;
  for (char32_t c : DecodeUtf8(text)) {
    const int w = CodePointWidth(c);
    if (used + w > budget) break;
    used += w;
    AppendUtf8(c, out);
  }
  return out + "…";
}

std::string PadToWidth(absl::string_view text, int width, bool right_align) {
  const int pad = std::max(0, width - DisplayWidth(text));
  if (right_align) return std::string(pad, ' ') + std::string(text);
  return std::string(text) + std::string(pad, ' ');
}

std::string OneLine(absl::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '\n' || c == '\t' || c == '\r') c = ' ';
  }
  return out;
}

void Table::AlignRight(size_t column) {
  if (right_.size() <= column) right_.resize(column + 1, false);
  right_[column] = true;
}

void Table::KeepWhole(size_t column) {
  if (whole_.size() <= column) whole_.resize(column + 1, false);
  whole_[column] = true;
}

absl::TimeZone Korea() {
  static const absl::TimeZone* const kZone = [] {
    auto* zone = new absl::TimeZone;
    if (!absl::LoadTimeZone("Asia/Seoul", zone)) *zone = absl::FixedTimeZone(9 * 3600);
    return zone;
  }();
  return *kZone;
}

std::string TimeText(absl::Time when, absl::TimeZone zone) {
  return absl::FormatTime("%Y-%m-%d %H:%M %Z", when, zone);
}

std::string ZoneAbbreviation(absl::TimeZone zone, int64_t at) {
  return absl::FormatTime("%Z", absl::FromUnixSeconds(at), zone);
}

namespace {
bool show_headers = true;
int line_width = 0;
// A column cut to fit a line keeps at least this many columns; narrower ones help no
// reader, so columns are left out instead.
constexpr int kMinColumnWidth = 12;
}  // namespace

void Table::SetShowHeaders(bool show) { show_headers = show; }
void Table::SetLineWidth(int columns) { line_width = std::max(0, columns); }

std::string Table::Render() const {
  const size_t columns = headers_.size();
  auto cell = [&](const std::vector<std::string>& row, size_t i) {
    std::string text = i < row.size() ? OneLine(row[i]) : "";
    const bool whole = i < whole_.size() && whole_[i];
    if (max_cell_width_ > 0 && !whole) text = TruncateToWidth(text, max_cell_width_);
    return text;
  };
  std::vector<int> widths(columns, 0);
  for (size_t i = 0; i < columns; ++i) {
    widths[i] = DisplayWidth(cell(headers_, i));
    for (const auto& row : rows_) widths[i] = std::max(widths[i], DisplayWidth(cell(row, i)));
  }
  // Fits a line width: narrows the widest column that may be cut, one column at a time,
  // down to kMinColumnWidth; if the lines are still too long, leaves out the rightmost
  // columns that may be cut (as ps and top do) and narrows again. Columns kept whole
  // always show.
  std::vector<bool> shown(columns, true);
  if (line_width > 0) {
    const std::vector<int> natural = widths;
    auto cuttable = [&](size_t i) { return !(i < whole_.size() && whole_[i]); };
    auto total = [&] {
      int sum = 0, visible = 0;
      for (size_t i = 0; i < columns; ++i) {
        if (!shown[i]) continue;
        sum += widths[i];
        ++visible;
      }
      return sum + 2 * std::max(0, visible - 1);
    };
    while (true) {
      widths = natural;
      while (total() > line_width) {
        int widest = -1;
        for (size_t i = 0; i < columns; ++i) {
          if (!shown[i] || !cuttable(i) || widths[i] <= kMinColumnWidth) continue;
          if (widest < 0 || widths[i] > widths[widest]) widest = static_cast<int>(i);
        }
        if (widest < 0) break;
        --widths[widest];
      }
      if (total() <= line_width) break;
      int last = -1;
      for (size_t i = 0; i < columns; ++i) {
        if (shown[i] && cuttable(i)) last = static_cast<int>(i);
      }
      if (last < 0) break;  // only whole columns left: the line stays long
      shown[last] = false;
    }
  }
  auto fitted = [&](const std::vector<std::string>& row, size_t i) {
    std::string text = cell(row, i);
    return DisplayWidth(text) > widths[i] ? TruncateToWidth(text, widths[i]) : text;
  };
  std::string out;
  auto render_row = [&](const std::vector<std::string>& row) {
    std::string line;
    bool first = true;
    for (size_t i = 0; i < columns; ++i) {
      if (!shown[i]) continue;
      const bool right = i < right_.size() && right_[i];
      if (!first) line += "  ";
      first = false;
      line += PadToWidth(fitted(row, i), widths[i], right);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  };
  if (show_headers) render_row(headers_);
  for (const auto& row : rows_) render_row(row);
  return out;
}

}  // namespace sanhak::ctl
