#include "tools/sanhakctl/xlsx_report.h"

#include <algorithm>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/type/date.pb.h"
#include "sanhak/analytics/v1/analytics.pb.h"
#include "sanhak/events/v1/events.pb.h"
#include "sanhak/registry/v1/registry.pb.h"
#include "tools/sanhakctl/csv_table.h"
#include "tools/sanhakctl/display.h"
#include "tools/sanhakctl/records.h"
#include "xlsxwriter.h"

namespace sanhak::ctl {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

namespace {

struct Formats {
  lxw_format* header;
  lxw_format* money;
  lxw_format* date;
  lxw_format* time;
};

// Column widths in Excel's units (about one per Latin letter; Hangul takes two).
constexpr double kMinWidth = 8;
constexpr double kMaxWidth = 60;

// Text for a list item or an enum in a cell.
std::string ItemText(const Message& m, const FieldDescriptor* f, int index) {
  const Reflection* r = m.GetReflection();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      return r->GetRepeatedString(m, f, index);
    case FieldDescriptor::CPPTYPE_ENUM:
      return r->GetRepeatedEnum(m, f, index)->name();
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return ToJson(r->GetRepeatedMessage(m, f, index));
    case FieldDescriptor::CPPTYPE_INT32:
      return absl::StrCat(r->GetRepeatedInt32(m, f, index));
    case FieldDescriptor::CPPTYPE_INT64:
      return absl::StrCat(r->GetRepeatedInt64(m, f, index));
    default:
      return "";
  }
}

class SheetWriter {
 public:
  SheetWriter(lxw_worksheet* sheet, const Formats& formats) : sheet_(sheet), formats_(formats) {}

  // Writes the header and one row per message; every message is of one type.
  void Write(const std::vector<std::unique_ptr<Message>>& rows,
             const google::protobuf::Descriptor* type) {
    // The etag is for writes, not for reading.
    const std::vector<FieldPath> columns = FlattenFields(type, {"etag"}, nullptr);
    widths_.assign(columns.size(), kMinWidth);
    for (size_t c = 0; c < columns.size(); ++c) {
      worksheet_write_string(sheet_, 0, static_cast<lxw_col_t>(c), columns[c].path.c_str(),
                             formats_.header);
      Widen(c, DisplayWidth(columns[c].path) + 2);
    }
    for (size_t r = 0; r < rows.size(); ++r) {
      for (size_t c = 0; c < columns.size(); ++c) {
        Cell(static_cast<lxw_row_t>(r + 1), static_cast<lxw_col_t>(c), *rows[r], columns[c]);
      }
    }
    // The header stays in view and filters, as people expect of a report.
    worksheet_freeze_panes(sheet_, 1, 0);
    if (!columns.empty()) {
      worksheet_autofilter(sheet_, 0, 0, static_cast<lxw_row_t>(rows.size()),
                           static_cast<lxw_col_t>(columns.size() - 1));
    }
    for (size_t c = 0; c < columns.size(); ++c) {
      worksheet_set_column(sheet_, static_cast<lxw_col_t>(c), static_cast<lxw_col_t>(c), widths_[c],
                           nullptr);
    }
  }

 private:
  void Widen(size_t column, double width) {
    widths_[column] = std::min(kMaxWidth, std::max(widths_[column], width));
  }

  void Text(lxw_row_t row, lxw_col_t col, const std::string& text) {
    if (text.empty()) return;
    worksheet_write_string(sheet_, row, col, text.c_str(), nullptr);
    Widen(col, DisplayWidth(text) + 1);
  }

  void Cell(lxw_row_t row, lxw_col_t col, const Message& message, const FieldPath& column) {
    const Message* m = &message;
    for (size_t i = 0; i + 1 < column.chain.size(); ++i) {
      if (!m->GetReflection()->HasField(*m, column.chain[i])) return;
      m = &m->GetReflection()->GetMessage(*m, column.chain[i]);
    }
    const FieldDescriptor* f = column.chain.back();
    const Reflection* r = m->GetReflection();
    if (f->is_repeated()) {
      std::vector<std::string> items;
      for (int k = 0; k < r->FieldSize(*m, f); ++k) items.push_back(ItemText(*m, f, k));
      Text(row, col, absl::StrJoin(items, ", "));
      return;
    }
    if (f->has_presence() && !r->HasField(*m, f)) return;
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        Text(row, col, r->GetString(*m, f));
        return;
      case FieldDescriptor::CPPTYPE_INT32:
      case FieldDescriptor::CPPTYPE_INT64:
      case FieldDescriptor::CPPTYPE_UINT32:
      case FieldDescriptor::CPPTYPE_UINT64:
      case FieldDescriptor::CPPTYPE_DOUBLE:
      case FieldDescriptor::CPPTYPE_FLOAT: {
        double v = 0;
        switch (f->cpp_type()) {
          case FieldDescriptor::CPPTYPE_INT32:
            v = r->GetInt32(*m, f);
            break;
          case FieldDescriptor::CPPTYPE_INT64:
            v = static_cast<double>(r->GetInt64(*m, f));
            break;
          case FieldDescriptor::CPPTYPE_UINT32:
            v = r->GetUInt32(*m, f);
            break;
          case FieldDescriptor::CPPTYPE_UINT64:
            v = static_cast<double>(r->GetUInt64(*m, f));
            break;
          case FieldDescriptor::CPPTYPE_DOUBLE:
            v = r->GetDouble(*m, f);
            break;
          default:
            v = r->GetFloat(*m, f);
            break;
        }
        const bool money = absl::EndsWith(f->name(), "_krw");
        worksheet_write_number(sheet_, row, col, v, money ? formats_.money : nullptr);
        // "#,##0원": digits, a comma per three, the unit.
        const std::string digits = absl::StrCat(static_cast<int64_t>(v));
        Widen(col, digits.size() + (money ? digits.size() / 3 + 3 : 1));
        return;
      }
      case FieldDescriptor::CPPTYPE_BOOL:
        worksheet_write_boolean(sheet_, row, col, r->GetBool(*m, f), nullptr);
        return;
      case FieldDescriptor::CPPTYPE_ENUM: {
        const auto* v = r->GetEnum(*m, f);
        if (v->number() != 0 || f->has_presence()) Text(row, col, v->name());
        return;
      }
      case FieldDescriptor::CPPTYPE_MESSAGE:
        break;
    }
    const Message& sub = r->GetMessage(*m, f);
    const std::string& type = sub.GetDescriptor()->full_name();
    if (type == "google.protobuf.Timestamp") {
      const auto& ts = static_cast<const google::protobuf::Timestamp&>(sub);
      // Excel's date-times have no zone: Korea's wall clock, as the format says.
      const absl::CivilSecond at = absl::ToCivilSecond(
          absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos()), Korea());
      lxw_datetime when = {
          static_cast<int>(at.year()),     at.month(), at.day(), at.hour(), at.minute(),
          static_cast<double>(at.second())};
      worksheet_write_datetime(sheet_, row, col, &when, formats_.time);
      Widen(col, 21);
      return;
    }
    if (type == "google.type.Date") {
      const auto& d = static_cast<const google::type::Date&>(sub);
      if (d.year() == 0) return;
      if (d.month() == 0 || d.day() == 0) {
        // A month or a year is no day: text, as the source gives it.
        Text(row, col,
             d.month() == 0 ? absl::StrCat(d.year())
                            : absl::StrCat(d.year(), "-", d.month() < 10 ? "0" : "", d.month()));
        return;
      }
      lxw_datetime day = {d.year(), d.month(), d.day(), 0, 0, 0};
      worksheet_write_datetime(sheet_, row, col, &day, formats_.date);
      Widen(col, 11);
      return;
    }
    Text(row, col, ToJson(sub));
  }

  lxw_worksheet* sheet_;
  const Formats& formats_;
  std::vector<double> widths_;
};

}  // namespace

absl::Status WriteXlsxReport(const std::string& path, const ReportData& data) {
  lxw_workbook* book = workbook_new(path.c_str());
  if (book == nullptr) return absl::InvalidArgumentError(absl::StrCat("cannot write ", path));
  Formats formats;
  formats.header = workbook_add_format(book);
  format_set_bold(formats.header);
  formats.money = workbook_add_format(book);
  format_set_num_format(formats.money, "#,##0\"원\"");
  formats.date = workbook_add_format(book);
  format_set_num_format(formats.date, "yyyy-mm-dd");
  formats.time = workbook_add_format(book);
  format_set_num_format(formats.time, "yyyy-mm-dd hh:mm \"KST\"");
  const std::pair<const std::vector<std::unique_ptr<Message>>*, const google::protobuf::Descriptor*>
      sheets[] = {{&data.councils, registry::v1::Council::descriptor()},
                  {&data.activities, events::v1::Activity::descriptor()},
                  {&data.outcomes, events::v1::Outcome::descriptor()},
                  {&data.scorecards, analytics::v1::CouncilScorecard::descriptor()}};
  for (size_t i = 0; i < 4; ++i) {
    lxw_worksheet* sheet = workbook_add_worksheet(book, kReportSheets[i]);
    SheetWriter(sheet, formats).Write(*sheets[i].first, sheets[i].second);
  }
  const lxw_error error = workbook_close(book);
  if (error != LXW_NO_ERROR) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot write ", path, ": ", lxw_strerror(error)));
  }
  return absl::OkStatus();
}

}  // namespace sanhak::ctl
