//! Safe API over libdeferred (in progress).
