// The default price table, USD per million tokens.
// Source: the providers' public list prices (OpenAI, Anthropic, Google, Mistral, Cohere, Meta via
// common hosts) as published on their pricing pages, taken 2026-11-23. Prices change: deployments
// should pass their own table with `prices:` in config or `--prices FILE`.
namespace spanpipe {

extern const char kDefaultPricesJson[];
const char kDefaultPricesJson[] = R"json({
  "gpt-4o":                  {"input_per_mtok": 2.50, "output_per_mtok": 10.00},
  "gpt-4o-mini":             {"input_per_mtok": 0.15, "output_per_mtok": 0.60},
  "gpt-4.1":                 {"input_per_mtok": 2.00, "output_per_mtok": 8.00},
  "gpt-4.1-mini":            {"input_per_mtok": 0.40, "output_per_mtok": 1.60},
  "gpt-4.1-nano":            {"input_per_mtok": 0.10, "output_per_mtok": 0.40},
  "gpt-4-turbo":             {"input_per_mtok": 10.00, "output_per_mtok": 30.00},
  "gpt-4":                   {"input_per_mtok": 30.00, "output_per_mtok": 60.00},
  "gpt-3.5-turbo":           {"input_per_mtok": 0.50, "output_per_mtok": 1.50},
  "gpt-5":                   {"input_per_mtok": 1.25, "output_per_mtok": 10.00},
  "gpt-5-mini":              {"input_per_mtok": 0.25, "output_per_mtok": 2.00},
  "o1":                      {"input_per_mtok": 15.00, "output_per_mtok": 60.00},
  "o1-mini":                 {"input_per_mtok": 1.10, "output_per_mtok": 4.40},
  "o3":                      {"input_per_mtok": 2.00, "output_per_mtok": 8.00},
  "o3-mini":                 {"input_per_mtok": 1.10, "output_per_mtok": 4.40},
  "o4-mini":                 {"input_per_mtok": 1.10, "output_per_mtok": 4.40},
  "text-embedding-3-small":  {"input_per_mtok": 0.02, "output_per_mtok": 0.0},
  "text-embedding-3-large":  {"input_per_mtok": 0.13, "output_per_mtok": 0.0},
  "claude-3-5-sonnet":       {"input_per_mtok": 3.00, "output_per_mtok": 15.00},
  "claude-3-5-haiku":        {"input_per_mtok": 0.80, "output_per_mtok": 4.00},
  "claude-3-7-sonnet":       {"input_per_mtok": 3.00, "output_per_mtok": 15.00},
  "claude-3-opus":           {"input_per_mtok": 15.00, "output_per_mtok": 75.00},
  "claude-3-haiku":          {"input_per_mtok": 0.25, "output_per_mtok": 1.25},
  "claude-sonnet-4":         {"input_per_mtok": 3.00, "output_per_mtok": 15.00},
  "claude-opus-4":           {"input_per_mtok": 15.00, "output_per_mtok": 75.00},
  "claude-haiku-4":          {"input_per_mtok": 1.00, "output_per_mtok": 5.00},
  "gemini-1.5-pro":          {"input_per_mtok": 1.25, "output_per_mtok": 5.00},
  "gemini-1.5-flash":        {"input_per_mtok": 0.075, "output_per_mtok": 0.30},
  "gemini-2.0-flash":        {"input_per_mtok": 0.10, "output_per_mtok": 0.40},
  "gemini-2.5-pro":          {"input_per_mtok": 1.25, "output_per_mtok": 10.00},
  "gemini-2.5-flash":        {"input_per_mtok": 0.30, "output_per_mtok": 2.50},
  "mistral-large":           {"input_per_mtok": 2.00, "output_per_mtok": 6.00},
  "mistral-small":           {"input_per_mtok": 0.20, "output_per_mtok": 0.60},
  "command-r-plus":          {"input_per_mtok": 2.50, "output_per_mtok": 10.00},
  "command-r":               {"input_per_mtok": 0.15, "output_per_mtok": 0.60},
  "llama-3.1-70b":           {"input_per_mtok": 0.88, "output_per_mtok": 0.88},
  "llama-3.1-8b":            {"input_per_mtok": 0.18, "output_per_mtok": 0.18},
  "meta-llama/Llama-3.3-70B-Instruct": {"input_per_mtok": 0.88, "output_per_mtok": 0.88}
})json";

}  // namespace spanpipe
