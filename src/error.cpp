#include "losscape/error.hpp"
// The hierarchy is header-only; this unit keeps the vtables in one place.
