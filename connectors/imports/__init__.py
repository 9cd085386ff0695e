"""Report-file imports for sellers without API access.

A seller uploads a report as downloaded from Amazon Ads (Sponsored Products search term or campaign report),
the Google Ads UI or Meta Ads Manager, as CSV (UTF-8 or UTF-16, comma/tab/semicolon) or XLSX. The file is
stored, then a task detects the layout (``detect``, the format modules ``amazon``, ``google_ads``,
``meta_ads``), checks every row (``readers``, ``values``, ``rows``, ``pipeline``) and loads all of it or
none of it (``service``).

Identity of imported rows (the keys the facts and entities are upserted on):

- ``account_id`` is ``import:<marketplace>`` when the seller names the marketplace on upload, else
  ``import:<currency>`` (``import:USD``): report files carry no account id. The same key names the
  ``campaigns.AdAccount`` (channel + key), so re-importing a file, or an overlapping one, updates the same rows.
- ``campaign_id``, ``ad_group_id`` and ``target_id`` are the platform's ids when the file has them, else
  ``name:<campaign name>``, ``name:<campaign name>/<ad group name>`` (ad group names repeat across campaigns)
  and ``name:<MATCH TYPE>/<targeting>``; names too long for the 128-character id end in a short hash.
- ``source`` is ``import`` and ``source_ref`` the ``FileImport`` id (the latest import that wrote the row).
- Facts are daily. A report whose rows span several days (``Start Date`` != ``End Date``, a ``Date range``,
  ``Lifetime``, a Google report without the Day segment over more than one day) is refused with a message
  asking for a daily report.
"""
