//! Front ends: they take a request from a person, call the core, and render the result.

pub mod cli;
pub mod memory;
pub mod slack;
pub mod tasks;
pub mod telegram;
pub mod telegram_format;
pub mod web;
