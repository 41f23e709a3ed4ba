// Our SigV4 signer (connectors/s3_sigv4) against two independent references: AWS's published
// example (the S3 "GET Object" example of the SigV4 header-based auth documentation) and
// botocore's S3SigV4Auth on fixed inputs, compared byte for byte.
#include "connectors/s3_sigv4.h"

#include <gtest/gtest.h>

#include "tests/unit/connectors/botocore_signer.h"

namespace spanpipe {
namespace {

std::string Header(const std::vector<std::pair<std::string, std::string>>& hs,
                   const std::string& k) {
  for (const auto& [name, v] : hs)
    if (name == k) return v;
  return "";
}

TEST(SigV4, UriEncodeIsRfc3986) {
  EXPECT_EQ(s3::UriEncode("a b+c/é~._-*", false), "a%20b%2Bc/%C3%A9~._-%2A");
  EXPECT_EQ(s3::UriEncode("a/b", true), "a%2Fb");
  // Sorted by encoded name, then value; empty values keep their '='.
  EXPECT_EQ(s3::CanonicalQuery({{"uploads", ""}, {"prefix", "a b/"}, {"list-type", "2"}}),
            "list-type=2&prefix=a%20b%2F&uploads=");
}

TEST(SigV4, Sha256OfEmptyPayload) {
  EXPECT_EQ(s3::Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

// AWS's published example (https://docs.aws.amazon.com/AmazonS3/latest/API/
// sig-v4-header-based-auth.html, "Example: GET Object"): credentials, scope, a signed Range header
// and the expected signature, literally.
TEST(SigV4, MatchesTheAwsDocumentationExample) {
  s3::SigningInput in{"GET",
                      "examplebucket.s3.amazonaws.com",
                      "/test.txt",
                      {},
                      s3::Sha256Hex(""),
                      "20130524T000000Z",
                      "us-east-1",
                      "AKIAIOSFODNN7EXAMPLE",
                      "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                      "",
                      {{"range", "bytes=0-9"}}};
  EXPECT_EQ(Header(s3::SignV4(in), "Authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

// botocore's S3SigV4Auth on fixed inputs (methods, encoded keys, sorted/encoded queries, binary
// payloads, session token, regions), compared byte for byte.
TEST(SigV4, MatchesBotocoreOnFixedInputs) {
  if (!testutil::BotocoreAvailable()) GTEST_SKIP() << "python3-botocore is not installed";
  const std::string ak = "AKIAIOSFODNN7EXAMPLE", sk = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
  struct Case {
    std::string method, scheme_host, host, bucket_path, key;
    std::vector<std::pair<std::string, std::string>> query;
    std::string payload, amz_date, region, token;
  };
  std::string binary;
  for (int i = 0; i < 4096; ++i) binary.push_back(static_cast<char>((i * 131) & 0xff));
  std::vector<Case> cases = {
      {"GET",
       "https://examplebucket.s3.amazonaws.com",
       "examplebucket.s3.amazonaws.com",
       "",
       "test.txt",
       {},
       "",
       "20130524T000000Z",
       "us-east-1",
       ""},
      {"PUT",
       "http://127.0.0.1:4569",
       "127.0.0.1:4569",
       "/bucket",
       "packs/0011aabb",
       {},
       binary,
       "20261123T101500Z",
       "eu-west-1",
       ""},
      // Keys that need encoding: spaces, '+', '%', '=', UTF-8, reserved characters.
      {"PUT",
       "http://127.0.0.1:4569",
       "127.0.0.1:4569",
       "/bucket",
       "manifests/team%2Fx/a b+c=d&e?f#g/é~ü(1)!*'[]@$,;:",
       {},
       "hello",
       "20261123T235959Z",
       "us-east-1",
       ""},
      {"GET",
       "http://localhost:9000",
       "localhost:9000",
       "/bkt",
       "",
       {{"list-type", "2"},
        {"prefix", "pre fix/manifests/%/é"},
        {"max-keys", "1000"},
        {"continuation-token", "1/ab+cd=="}},
       "",
       "20261201T000000Z",
       "ap-southeast-2",
       ""},
      // Multipart: an empty-valued parameter and an upload id; a session token.
      {"POST",
       "https://s3.eu-central-1.amazonaws.com",
       "s3.eu-central-1.amazonaws.com",
       "/my.bucket",
       "packs/p1",
       {{"uploads", ""}},
       "",
       "20261123T101500Z",
       "eu-central-1",
       "FQoGZXIvYXdzEXAMPLETOKEN/+=="},
      {"PUT",
       "https://s3.eu-central-1.amazonaws.com",
       "s3.eu-central-1.amazonaws.com",
       "/my.bucket",
       "packs/p1",
       {{"partNumber", "2"}, {"uploadId", "VXBsb2FkIElE+/="}},
       binary,
       "20261123T101500Z",
       "eu-central-1",
       ""},
      {"DELETE",
       "http://127.0.0.1:1",
       "127.0.0.1:1",
       "/b",
       "k",
       {{"uploadId", "x y"}},
       "",
       "20270101T000000Z",
       "us-east-1",
       ""},
  };
  std::vector<testutil::BotoRequest> boto;
  std::vector<std::vector<std::pair<std::string, std::string>>> ours;
  for (const auto& c : cases) {
    // botocore's own key encoding (botocore.utils.percent_encode(key, safe='/~') in its REST
    // serializer) would give the same path: '/' kept, RFC 3986 unreserved kept, the rest %XX.
    std::string path = c.bucket_path + "/" + s3::UriEncode(c.key, false);
    testutil::BotoRequest b;
    b.method = c.method;
    b.url = c.scheme_host + path;
    b.params = c.query;
    b.payload = c.payload;
    b.amz_date = c.amz_date;
    b.region = c.region;
    b.access_key_id = ak;
    b.secret_access_key = sk;
    b.session_token = c.token;
    boto.push_back(b);
    s3::SigningInput in{c.method,   c.host,   path, c.query, s3::Sha256Hex(c.payload),
                        c.amz_date, c.region, ak,   sk,      c.token};
    ours.push_back(s3::SignV4(in));
  }
  std::vector<testutil::BotoSignature> want;
  std::string error;
  ASSERT_TRUE(testutil::BotocoreSign(boto, &want, &error)) << error;
  ASSERT_EQ(want.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE("case " + std::to_string(i) + ": " + cases[i].method + " " + boto[i].url);
    EXPECT_EQ(Header(ours[i], "Authorization"), want[i].authorization);
    EXPECT_EQ(Header(ours[i], "x-amz-date"), want[i].amz_date);
    EXPECT_EQ(Header(ours[i], "x-amz-content-sha256"), want[i].content_sha256);
    EXPECT_EQ(Header(ours[i], "x-amz-security-token"), want[i].security_token);
  }
  // The AWS documentation example's scope and signed headers, literally.
  EXPECT_EQ(want[0].authorization.substr(0, want[0].authorization.find(", Signature=")),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;x-amz-content-sha256;x-amz-date");
}

// The reference itself, pinned to AWS's documentation: botocore reproduces the published example.
TEST(SigV4, BotocoreReproducesTheAwsDocumentationExample) {
  if (!testutil::BotocoreAvailable()) GTEST_SKIP() << "python3-botocore is not installed";
  testutil::BotoRequest b;
  b.method = "GET";
  b.url = "https://examplebucket.s3.amazonaws.com/test.txt";
  b.headers = {{"Range", "bytes=0-9"}};
  b.amz_date = "20130524T000000Z";
  b.access_key_id = "AKIAIOSFODNN7EXAMPLE";
  b.secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
  std::vector<testutil::BotoSignature> got;
  std::string error;
  ASSERT_TRUE(testutil::BotocoreSign({b}, &got, &error)) << error;
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

}  // namespace
}  // namespace spanpipe
