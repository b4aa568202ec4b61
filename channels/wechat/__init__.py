"""The WeChat official account (公众号) channel.

The layout mirrors the platform: ``endpoint`` is the server URL WeChat calls,
``crypto`` the signatures and AES, ``messages`` the XML in and the text out,
``dedupe`` WeChat's retries, ``token`` + ``client`` the API WeChat offers us
(客服 messages, media, menu), ``media`` image downloads for pre-review.
``fake_server``, ``simulator`` and ``bench`` let a person or a test play WeChat locally.
"""
