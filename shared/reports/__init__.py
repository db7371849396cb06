"""What providers report back: receipts, bounces and complaints, by webhook or by mail, read into a
row's fate."""
