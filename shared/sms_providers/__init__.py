"""The SMS providers, one spec module each (twilio, vonage, gateway), registered in registry."""
