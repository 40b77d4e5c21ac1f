"""Facts from the record, the validation report, and sensitivity of the facts to assumptions."""
