#include "uploads/blob_store.h"

namespace parley::uploads {

bool IsBlobName(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace parley::uploads
