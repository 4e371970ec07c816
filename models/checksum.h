#pragma once
// MD5 digests (RFC 1321) of byte strings and files, to recognize a data set's original files by the
// checksums their publishers list. Not for security: MD5 only tells an intact file from a damaged one.
#include <string>
#include <string_view>

namespace elbo::models {

// 32 lowercase hexadecimal digits.
std::string md5_hex(std::string_view bytes);
// The digest of a whole file, read in blocks; an IOError names a file that cannot be read.
std::string md5_file(const std::string& path);

}  // namespace elbo::models
