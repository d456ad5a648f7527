// Reading stream entries as Redis returns them (common/redis.h), as every consumer of the
// suite's streams does: the outbox's change streams, the registry view, the analytics
// kept updates.
#include "common/redis.h"

#include "gtest/gtest.h"

namespace sanhak::redis {
namespace {

Reply Str(const std::string& s) {
  Reply r;
  r.type = Reply::Type::kString;
  r.str = s;
  return r;
}

TEST(StreamEntryTest, TheSequenceOfAnEntryIdAndZeroForAnythingElse) {
  EXPECT_EQ(StreamEntrySequence("123-0"), 123);
  EXPECT_EQ(StreamEntrySequence("1-7"), 1);
  EXPECT_EQ(StreamEntrySequence("0-1"), 0);
  EXPECT_EQ(StreamEntrySequence(""), 0);
  EXPECT_EQ(StreamEntrySequence("-5-0"), 0);
  EXPECT_EQ(StreamEntrySequence("abc-0"), 0);
  EXPECT_EQ(StreamEntrySequence("99999999999999999999999-0"), 0) << "overflow is no sequence";
}

TEST(StreamEntryTest, AFieldByNameOrNoneWhenTheEntryLacksIt) {
  Reply entry;
  entry.type = Reply::Type::kArray;
  entry.elements.push_back(Str("5-0"));
  Reply fields;
  fields.type = Reply::Type::kArray;
  for (const char* s : {"record", "R", "update", "U", "dangling"}) fields.elements.push_back(Str(s));
  entry.elements.push_back(fields);
  ASSERT_NE(StreamEntryField(entry, "record"), nullptr);
  EXPECT_EQ(*StreamEntryField(entry, "record"), "R");
  EXPECT_EQ(*StreamEntryField(entry, "update"), "U");
  EXPECT_EQ(StreamEntryField(entry, "dangling"), nullptr) << "a name without a value";
  EXPECT_EQ(StreamEntryField(entry, "R"), nullptr) << "values are not names";
  Reply deleted;  // XAUTOCLAIM's entry deleted meanwhile: [id, nil]
  deleted.elements.push_back(Str("6-0"));
  EXPECT_EQ(StreamEntryField(deleted, "record"), nullptr);
}

}  // namespace
}  // namespace sanhak::redis
