"""The Telegram adapters: the only package that imports telethon."""

import logging

# Telethon logs which AES backend it found when first imported ("libssl detected, it will
# be used for encryption") at INFO: it opened every start of the service, telling the
# operator nothing they can act on.
logging.getLogger("telethon.crypto.aes").setLevel(logging.WARNING)
