// MD5 against RFC 1321's test suite, across block boundaries, and on files.
#include <models/checksum.h>

#include <filesystem>
#include <fstream>

#include "test_util.h"

using elbo::models::md5_file;
using elbo::models::md5_hex;

TEST_CASE("md5: RFC 1321's test suite") {
  CHECK(md5_hex("") == "d41d8cd98f00b204e9800998ecf8427e");
  CHECK(md5_hex("a") == "0cc175b9c0f1b6a831c399e269772661");
  CHECK(md5_hex("abc") == "900150983cd24fb0d6963f7d28e17f72");
  CHECK(md5_hex("message digest") == "f96b697d7cb7938d525a2f31aaf161d0");
  CHECK(md5_hex("abcdefghijklmnopqrstuvwxyz") == "c3fcd3d76192e4007dfb496cca67e13b");
  CHECK(md5_hex("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") == "d174ab98d277d9f5a5611c2c9f419d9f");
  CHECK(md5_hex("12345678901234567890123456789012345678901234567890123456789012345678901234567890") ==
        "57edf4a22be3c955ac49da2e2107b67a");
}

TEST_CASE("md5: messages of 55, 56, 63, 64 and 65 bytes (the padding's edge cases) and a million bytes") {
  // 55 bytes leave room for the length in one block, 56 do not
  CHECK(md5_hex(std::string(55, 'a')) == "ef1772b6dff9a122358552954ad0df65");
  CHECK(md5_hex(std::string(56, 'a')) == "3b0c8ac703f828b04c6c197006d17218");
  CHECK(md5_hex(std::string(63, 'a')) == "b06521f39153d618550606be297466d5");
  CHECK(md5_hex(std::string(64, 'a')) == "014842d480b571495a4a0363793f7367");
  CHECK(md5_hex(std::string(65, 'a')) == "c743a45e0d2e6a95cb859adae0248435");
  CHECK(md5_hex(std::string(1000000, 'a')) == "7707d6ae4e027c70eea2a935c2296f21");
}

TEST_CASE("md5: a file read in blocks, and a file that cannot be read") {
  const std::filesystem::path p = std::filesystem::temp_directory_path() / "elbo_test_md5.bin";
  std::string bytes;
  for (int i = 0; i < 3 * (1 << 20) + 17; ++i) bytes += char(i * 7 + (i >> 11));  // blocks of 1 MiB and a tail
  std::ofstream(p, std::ios::binary) << bytes;
  CHECK(md5_file(p.string()) == md5_hex(bytes));
  std::filesystem::remove(p);
  CHECK_ERROR_HAS(md5_file(p.string()), "elbo_test_md5.bin: cannot open");
}
