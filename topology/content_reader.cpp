#include "topology/content_reader.h"

#include "common/json_writer.h"
#include "operators/content_reader.h"

namespace spanpipe {

ObjectStoreOptions ObjectStoreOptionsFrom(const Config& cfg) {
  ObjectStoreOptions os;
  os.url = cfg.content.store;
  os.endpoint = cfg.s3.endpoint;
  os.region = cfg.s3.region;
  os.path_style = cfg.s3.path_style;
  os.access_key_id = cfg.s3.access_key_id;
  os.secret_access_key = cfg.s3.secret_access_key;
  os.session_token = cfg.s3.session_token;
  return os;
}

ContentReader::ContentReader(const Config& cfg) {
  open_status_ = OpenObjectStore(ObjectStoreOptionsFrom(cfg), &store_);
}

Status ContentReader::TraceContentJson(std::string_view project, std::string_view trace_id,
                                       std::string* out) {
  SPANPIPE_RETURN_IF_ERROR(open_status_);
  std::vector<content::ContentValue> values;
  std::string trace(trace_id);
  for (char& c : trace) c = static_cast<char>(::tolower(static_cast<unsigned char>(c)));
  std::string p(project);
  SPANPIPE_RETURN_IF_ERROR(content::ReadTraceContent(
      store_.get(),
      [this](std::string_view prefix, std::vector<std::string>* k) {
        return store_->List(prefix, k);
      },
      &p, trace, "", &values));
  if (values.empty()) return Status::NotFound("no stored content for trace " + trace);
  out->clear();
  JsonWriter w(out);
  w.BeginArray();
  for (const auto& v : values) {
    w.BeginObject()
        .Field("trace_id", std::string_view(v.trace_id_hex))
        .Field("span_id", std::string_view(v.span_id_hex));
    w.Field("key", std::string_view(v.key)).Field("value", std::string_view(v.value)).EndObject();
  }
  w.EndArray();
  return Status::OK();
}

}  // namespace spanpipe
