"""What every area uses, each thing once: clock, errors, labels, imports, charts, frames."""
