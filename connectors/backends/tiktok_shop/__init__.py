"""TikTok Shop (Open API 202309): shops authorized by a seller, their orders and daily sales."""
