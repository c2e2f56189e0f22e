//! Host benchmarks of edgetune: see `optim.rs` (the criterion bench) and `naive/` (the plain
//! loops it is compared with). This library is empty; Cargo needs one target besides the bench.
