#pragma once

#include <string>

namespace spanpipe::serve {
// The ops dashboard: one self-contained page (vanilla JS, canvas charts), no build step.
std::string DashboardHtml(bool open);
}  // namespace spanpipe::serve
