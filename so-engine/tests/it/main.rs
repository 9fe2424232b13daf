//! Scenario tests for the engine, one binary (see each module).

mod cluster;
mod contract;
mod declared;
mod fuzz;
mod golden;
mod hooks;
mod lifecycle;
mod limits;
mod panics;
mod persistence;
mod scopes;
mod security;
mod server;
mod server_api;
mod sim;
mod support;
mod wire;
