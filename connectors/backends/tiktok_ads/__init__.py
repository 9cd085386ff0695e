"""TikTok for Business (Marketing API) ads: spend, clicks and purchases per campaign, ad group and ad."""
