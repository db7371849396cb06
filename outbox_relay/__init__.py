"""The delivery relay: claims due outbox rows and delivers them by email or SMS."""
