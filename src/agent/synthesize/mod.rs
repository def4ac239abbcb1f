//! Synthesis: picks the evidence the answer may use (passages the facts came from first, then
//! each search's best hits), numbers it [1]..[n], writes the facts the steps computed as plain
//! lines citing those numbers (`evidence.rs`), and after the synthesizer has written the answer
//! checks every citation against the evidence actually shown: unknown numbers are removed, and
//! an answer that says the wiki does not cover the question is marked unanswered (`check.rs`).
//! Arithmetic the model wrote out anyway is recomputed (`arith.rs`).

pub mod arith;
mod check;
mod evidence;
pub mod focus;

pub use check::*;
pub use evidence::*;

/// The sentence the synthesizer is told to use when the evidence does not answer.
pub const NOT_IN_WIKI: &str = "The wiki does not say.";

#[cfg(test)]
mod tests;
