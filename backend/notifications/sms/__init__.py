"""SMS: provider backends, phone confirmation, outbound texts and inbound replies."""
