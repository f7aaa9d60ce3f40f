"""The HTTP edge shared by every module's controller: errors, auth, body decoding, operations."""
