"""HTTP only: parse, authenticate, call a use-case, shape the {success, data | error} envelope."""
