//! The so-cluster integration tests, in one binary.

mod host;
mod redis_model;
mod scenarios;
mod sim;
