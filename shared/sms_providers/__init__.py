"""The SMS providers, one spec module each (twilio, vonage, gateway, template), registered in
registry."""
