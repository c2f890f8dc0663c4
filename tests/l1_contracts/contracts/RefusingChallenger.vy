#pragma version 0.4.3
"""
@title A challenger that refuses ether (issue 10, finding 1)
@notice Test-only: forwards calls (with value) to a target and reverts on any plain ether
        transfer, like a contract wallet without a receive function.
"""


@external
@payable
def fund():
    """
    @notice Accept ether from the test, to pay bonds with later.
    """
    pass


@external
def forward(target: address, data: Bytes[4096], amount: uint256):
    """
    @notice Call `target` with `data` and `amount` wei; bubble up its revert.
    @param target The contract to call.
    @param data ABI-encoded call.
    @param amount Wei to send along.
    """
    raw_call(target, data, value=amount)


@external
@payable
def __default__():
    """
    @notice Refuse every plain transfer.
    """
    raise "refusing ether"
