// Tests of terminal.hpp's printable_line: error messages stay one line of valid UTF-8 whatever
// names a file brings into them. The expected strings are written out byte by byte.
#include <string>

#include "losscape/json_config.hpp"
#include "losscape/terminal.hpp"
#include "test_support.hpp"

using namespace losscape;

TEST_CASE("printable_line: control bytes escaped, printable ASCII kept", "[terminal]") {
  CHECK(printable_line("a plain message: x.h5 (1 of 2)") == "a plain message: x.h5 (1 of 2)");
  CHECK(printable_line("evil\nname") == "evil\\nname");
  CHECK(printable_line("a\tb\rc") == "a\\tb\\rc");
  CHECK(printable_line(std::string("nul\0here", 8)) == "nul\\x00here");
  CHECK(printable_line("\x1b[31mred\x7f") == "\\x1b[31mred\\x7f");
  CHECK(printable_line("") == "");
  // A backslash is doubled: a real tab and the two characters \t read differently
  CHECK(printable_line("a\\tb") == "a\\\\tb");
  CHECK(printable_line("a\\tb") != printable_line("a\tb"));
  CHECK(printable_line("C:\\x\\") == "C:\\\\x\\\\");
}

TEST_CASE("printable_line: valid UTF-8 kept, every other byte escaped", "[terminal]") {
  // α (2 bytes), € (3), 𝔼 (4): kept as they are
  CHECK(printable_line("\xce\xb1 \xe2\x82\xac \xf0\x9d\x94\xbc") == "\xce\xb1 \xe2\x82\xac \xf0\x9d\x94\xbc");
  CHECK(printable_line("bn\xbe.running_var") == "bn\\xbe.running_var");   // a lone continuation byte
  CHECK(printable_line("caf\xe9") == "caf\\xe9");                           // Latin-1 é, cut short
  CHECK(printable_line("\xc0\xaf") == "\\xc0\\xaf");                        // an overlong '/'
  CHECK(printable_line("\xed\xa0\x80") == "\\xed\\xa0\\x80");               // a UTF-16 surrogate
  CHECK(printable_line("\xf4\x90\x80\x80") == "\\xf4\\x90\\x80\\x80");      // past U+10FFFF
  CHECK(printable_line("\xe2\x82") == "\\xe2\\x82");                        // a sequence cut at the end
  CHECK(printable_line("\xe2\x82x") == "\\xe2\\x82x");
}

TEST_CASE("printable_line: UTF-8's control characters escaped, its other characters kept", "[terminal]") {
  CHECK(printable_line("x\xc2\x9b" "31mred") == "x\\xc2\\x9b31mred");  // U+009B, CSI
  CHECK(printable_line("a\xc2\x85" "b") == "a\\xc2\\x85b");            // U+0085, NEL
  CHECK(printable_line("a\xe2\x80\xa8" "b\xe2\x80\xa9") == "a\\xe2\\x80\\xa8b\\xe2\\x80\\xa9");  // U+2028/9
  CHECK(printable_line("\xc2\xa0\xc2\xb5 \xe2\x80\x94 \xe2\x89\xa4") == "\xc2\xa0\xc2\xb5 \xe2\x80\x94 \xe2\x89\xa4");  // nbsp µ — ≤
}

TEST_CASE("error_line: a message of a megabyte is cut after 8,192 bytes at a character's boundary", "[terminal]") {
  CHECK(error_line("x.h5: no such file") == "losscape: error: x.h5: no such file");
  const std::string exact(8192, 'k');
  CHECK(error_line(exact) == "losscape: error: " + exact);  // (up to the limit: whole)
  // A key of a megabyte: 8,192 bytes kept, the rest counted
  const std::string huge = "unexpected " + std::string(1 << 20, 'k');
  const std::string line = error_line(huge);
  CHECK(line == "losscape: error: " + huge.substr(0, 8192) + "... (" +
                    std::to_string(huge.size() - 8192) + " more bytes)");
  // α is 2 bytes: the cut falls inside the one at bytes 8191..8192 and moves before it
  const std::string alphas = std::string(1, 'a') + [] {
    std::string s;
    for (int i = 0; i < 5000; ++i) s += "\xce\xb1";
    return s;
  }();
  CHECK(error_line(alphas) == "losscape: error: " + alphas.substr(0, 8191) + "... (" +
                                  std::to_string(alphas.size() - 8191) + " more bytes)");
  // An escape is never cut: \x01 (4 bytes shown) after 8,190 bytes does not fit, and the count is
  // of the message's own bytes left out (the control byte and "zzz")
  CHECK(error_line(std::string(8190, 'a') + "\x01" "zzz") ==
        "losscape: error: " + std::string(8190, 'a') + "... (4 more bytes)");
  CHECK(error_line(std::string(8188, 'a') + "\n" "zz") ==
        "losscape: error: " + std::string(8188, 'a') + "\\nzz");  // (8,192 shown: whole)
  CHECK(error_line(std::string(8191, 'a') + "\n") ==
        "losscape: error: " + std::string(8191, 'a') + "... (1 more byte)");
}

TEST_CASE("shown_json: a value in a message is escaped once, by the error line", "[terminal]") {
  // dump() escapes a tab as \t and the error line would double its backslash (\\t: a
  // backslash and a t); shown_json writes the strings as they are, for error_line to escape.
  const nlohmann::json v = {{"out", "a\tb.h5"}, {"splits", {"train", "x\\y"}}, {"samples", 20}};
  CHECK(shown_json(v) == "{\"out\":\"a\tb.h5\",\"samples\":20,\"splits\":[\"train\",\"x\\y\"]}");
  CHECK(error_line("its " + shown_json(v["out"])) == "losscape: error: its \"a\\tb.h5\"");
  CHECK(error_line(shown_json(v["splits"])) == "losscape: error: [\"train\",\"x\\\\y\"]");
  CHECK(shown_json(nlohmann::json(1.5)) == "1.5");
  CHECK(shown_json(nlohmann::json()) == "null");
  // a NUL as JSON writes it (the exception's what() would end at the byte itself)
  CHECK(shown_json(nlohmann::json(std::string("a\0b", 3))) == "\"a\\u0000b\"");
}
